package sshhost

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"al.essio.dev/pkg/shellescape"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyErrorKind says why a host key was rejected.
type HostKeyErrorKind int

const (
	// HostKeyUnknown: known_hosts has no key for the host, or does not exist.
	HostKeyUnknown HostKeyErrorKind = iota + 1
	// HostKeyChanged: known_hosts has keys for the host, none of them this one.
	HostKeyChanged
	// HostKeyRevoked: known_hosts marks the presented key @revoked.
	HostKeyRevoked
)

func (k HostKeyErrorKind) String() string {
	switch k {
	case HostKeyUnknown:
		return "unknown"
	case HostKeyChanged:
		return "changed"
	case HostKeyRevoked:
		return "revoked"
	}
	return fmt.Sprintf("HostKeyErrorKind(%d)", int(k))
}

// HostKeyError reports a host key that known_hosts does not vouch for, with
// what to do about it.
type HostKeyError struct {
	Kind        HostKeyErrorKind
	Host        string // as known_hosts names it: "host" or "[host]:port"
	Fingerprint string // SHA256 fingerprint of the key the server presented
	KeyType     string // type of the presented key, e.g. "ssh-ed25519"
	KnownHosts  string // the known_hosts file checked
	Line        int    // for changed or revoked keys: the known_hosts line that disagrees
	FileMissing bool   // KnownHosts does not exist
}

func (e *HostKeyError) Error() string {
	var b strings.Builder
	presented := fmt.Sprintf("the server presented %s key %s", e.KeyType, e.Fingerprint)
	switch e.Kind {
	case HostKeyChanged:
		fmt.Fprintf(&b, "HOST KEY CHANGED for %s: %s, which does not match %s", e.Host, presented, e.where())
		b.WriteString("; a changed key may mean an attack (someone intercepting the connection), so do not continue until you know why it changed")
		fmt.Fprintf(&b, "; if the host was rebuilt, verify the new fingerprint with the host's owner, remove the old line with: %s", e.ForgetCommand())
		fmt.Fprintf(&b, " and add the new key with: %s", e.TrustCommand())
	case HostKeyRevoked:
		fmt.Fprintf(&b, "host key for %s is REVOKED in %s: %s; refusing to connect, ask the host's owner for the current key", e.Host, e.where(), presented)
	default:
		if e.FileMissing {
			fmt.Fprintf(&b, "host key for %s is unknown: known_hosts file %s does not exist; %s", e.Host, e.KnownHosts, presented)
		} else {
			fmt.Fprintf(&b, "host key for %s is unknown: %s has no entry for it; %s", e.Host, e.KnownHosts, presented)
		}
		fmt.Fprintf(&b, "; to trust it, verify the fingerprint with the host's owner, then run: %s", e.TrustCommand())
	}
	return b.String()
}

func (e *HostKeyError) where() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d", e.KnownHosts, e.Line)
	}
	return e.KnownHosts
}

// TrustCommand is the shell command that appends the host's current key to
// KnownHosts. Run it only after confirming Fingerprint with the host's owner;
// for a changed key run ForgetCommand first.
func (e *HostKeyError) TrustCommand() string {
	host, port := e.Host, ""
	if i := strings.LastIndex(e.Host, "]:"); strings.HasPrefix(e.Host, "[") && i > 0 {
		host, port = e.Host[1:i], e.Host[i+2:]
	}
	args := []string{"ssh-keyscan"}
	if port != "" && port != "22" {
		args = append(args, "-p", port)
	}
	if t := keyscanType(e.KeyType); t != "" {
		args = append(args, "-t", t)
	}
	args = append(args, host)
	return shellescape.QuoteCommand(args) + " >> " + shellescape.Quote(e.KnownHosts)
}

// ForgetCommand is the shell command that removes the host's lines from
// KnownHosts.
func (e *HostKeyError) ForgetCommand() string {
	return "ssh-keygen -R " + shellescape.Quote(e.Host) + " -f " + shellescape.Quote(e.KnownHosts)
}

// keyscanType maps a key type to ssh-keyscan's -t name.
func keyscanType(keyType string) string {
	switch {
	case keyType == ssh.KeyAlgoED25519:
		return "ed25519"
	case keyType == ssh.KeyAlgoRSA:
		return "rsa"
	case strings.HasPrefix(keyType, "ecdsa-sha2-"):
		return "ecdsa"
	case keyType == ssh.KeyAlgoSKED25519:
		return "ed25519-sk"
	case keyType == ssh.KeyAlgoSKECDSA256:
		return "ecdsa-sk"
	}
	return ""
}

// hostKeyCheck verifies server keys for one address and says which host key
// algorithms to ask for.
type hostKeyCheck struct {
	callback ssh.HostKeyCallback
	// algorithms restricts negotiation to key types known_hosts holds for
	// the host (known is then true); otherwise the server may present
	// another type it also has and the check would fail although the host is
	// known. For other hosts it puts modern key types first, so the key an
	// error shows is the one ssh-keyscan -t fetches. Nil: x/crypto's default.
	algorithms []string
	known      bool
}

// preferredAlgorithms order host key types like OpenSSH's client does.
var preferredAlgorithms = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// defaultKnownHosts is ~/.ssh/known_hosts.
func defaultKnownHosts() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("known_hosts: %w", err)
	}
	return filepath.Join(home, ".ssh", "known_hosts"), nil
}

// newHostKeyCheck builds the check for addr ("host:port"). fingerprint, if
// non-nil, receives the accepted key's fingerprint.
func newHostKeyCheck(cfg Config, addr string, fingerprint *string) (*hostKeyCheck, error) {
	host := knownhosts.Normalize(addr)
	record := func(key ssh.PublicKey) {
		if fingerprint != nil {
			*fingerprint = ssh.FingerprintSHA256(key)
		}
	}
	if cfg.InsecureIgnoreHostKey {
		if cfg.Warn == nil {
			return nil, errors.New("InsecureIgnoreHostKey needs a Warn func so the user sees that host keys are not checked")
		}
		return &hostKeyCheck{algorithms: preferredAlgorithms, callback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			record(key)
			cfg.Warn(fmt.Sprintf("WARNING: SSH HOST KEY CHECKING IS DISABLED for %s (it presented %s key %s). "+
				"Anyone on the network path can impersonate this host and capture everything gantry sends it, "+
				"including registry credentials. Add the host to known_hosts and turn this setting off.",
				host, key.Type(), ssh.FingerprintSHA256(key)))
			return nil
		}}, nil
	}

	file := cfg.KnownHosts
	if file == "" {
		var err error
		if file, err = defaultKnownHosts(); err != nil {
			return nil, err
		}
	}
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	keyErr := func(kind HostKeyErrorKind, hostname string, key ssh.PublicKey) *HostKeyError {
		h := host
		if hostname != "" {
			h = knownhosts.Normalize(hostname)
		}
		return &HostKeyError{Kind: kind, Host: h, Fingerprint: ssh.FingerprintSHA256(key), KeyType: key.Type(), KnownHosts: file}
	}

	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return &hostKeyCheck{algorithms: preferredAlgorithms, callback: func(hostname string, _ net.Addr, key ssh.PublicKey) error {
			e := keyErr(HostKeyUnknown, hostname, key)
			e.FileMissing = true
			return e
		}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	check, err := knownhosts.New(file)
	if err != nil {
		return nil, fmt.Errorf("known_hosts %s: %w", file, err)
	}

	hk := &hostKeyCheck{callback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case err == nil:
			record(key)
			return nil
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return keyErr(HostKeyUnknown, hostname, key)
		case errors.As(err, &ke):
			e := keyErr(HostKeyChanged, hostname, key)
			e.Line = ke.Want[0].Line
			return e
		case errors.As(err, &re):
			e := keyErr(HostKeyRevoked, hostname, key)
			e.Line = re.Revoked.Line
			return e
		}
		return err
	}}
	// Certificate authorities are not visible through knownhosts' API, so a
	// file with any leaves negotiation alone rather than exclude certificates.
	if !bytes.Contains(data, []byte("@cert-authority")) {
		hk.algorithms = knownAlgorithms(check, addr)
		hk.known = hk.algorithms != nil
		if !hk.known {
			hk.algorithms = preferredAlgorithms
		}
	}
	return hk, nil
}

// probeKey never matches a real host key; checking it makes knownhosts list
// the keys it holds for a host.
var probeKey = func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
}()

// knownAlgorithms lists host key algorithms for the key types known_hosts
// holds for addr, in file order; nil when it holds none.
func knownAlgorithms(check ssh.HostKeyCallback, addr string) []string {
	var ke *knownhosts.KeyError
	err := check(addr, &net.TCPAddr{IP: net.IPv4zero}, probeKey)
	if !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		for _, a := range algorithmsForKeyType(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

func algorithmsForKeyType(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}
