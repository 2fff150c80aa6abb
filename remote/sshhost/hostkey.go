package sshhost

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"al.essio.dev/pkg/shellescape"
	"golang.org/x/crypto/ssh"
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
	// CertProblem says why the server's host certificate did not vouch for
	// it (wrong principal, expired, unknown CA), when one was presented.
	CertProblem string
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
		if e.CertProblem != "" {
			fmt.Fprintf(&b, "host certificate of %s not accepted: %s; ", e.Host, e.CertProblem)
		}
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
	h, p := hostOnly(addr)
	host := lookupName(h, p)
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
	files := append([]string{file}, cfg.GlobalKnownHosts...)
	db, missing, err := loadKnownHosts(files)
	if err != nil {
		return nil, err
	}
	lookupHost, port := hostOnly(addr)
	if cfg.HostKeyAlias != "" {
		lookupHost, port = cfg.HostKeyAlias, 0
	}
	algos, known := db.algorithms(lookupHost, port)
	hk := &hostKeyCheck{algorithms: algos, known: known, callback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
		v := db.verify(lookupHost, port, key, time.Now())
		shown := key
		if c, ok := key.(*ssh.Certificate); ok && v.status != hostOK {
			shown = c.Key // the key to trust, or that changed, is the plain one
		}
		e := &HostKeyError{Host: v.name, Fingerprint: ssh.FingerprintSHA256(shown), KeyType: shown.Type(), KnownHosts: file, CertProblem: v.certProblem}
		if v.entry != nil {
			e.KnownHosts, e.Line = v.entry.file, v.entry.line
		}
		switch v.status {
		case hostOK:
			record(key)
			return nil
		case hostChanged:
			e.Kind = HostKeyChanged
		case hostRevoked:
			e.Kind = HostKeyRevoked
		default:
			e.Kind = HostKeyUnknown
			e.Host = lookupName(lookupHost, port)
			e.FileMissing = len(missing) == len(files)
		}
		return e
	}}
	return hk, nil
}

// hostOnly splits host:port; the port is 22 when absent or unparsable.
func hostOnly(addr string) (string, int) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 22
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return h, 22
	}
	return h, n
}

func algorithmsForKeyType(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}
