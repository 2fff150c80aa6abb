package sshhost

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// This file reads known_hosts the way OpenSSH's client does (hostfile.c and
// check_host_key in sshconnect.c), because x/crypto's knownhosts differs on
// the cases EC2 setups hit: patterns are matched against the whole lookup
// name ("[host]:port" on other ports, so "*" covers every port), a lookup on
// a non-22 port that finds nothing retries without the port, a certificate
// whose CA or principals do not check out falls back to its plain key, and
// @revoked also catches the plain key inside a certificate.

type marker int

const (
	markNone marker = iota
	markCA
	markRevoked
)

// khEntry is one key line of a known_hosts file.
type khEntry struct {
	marker   marker
	patterns []string // comma-separated host patterns, possibly hashed or negated
	key      ssh.PublicKey
	file     string
	line     int
}

// knownHostsDB holds the lines of the known_hosts files, in order.
type knownHostsDB struct {
	entries []khEntry
}

// parseKnownHosts reads one known_hosts file; lines it cannot parse are
// skipped like OpenSSH does.
func (db *knownHostsDB) parseFile(file string, data []byte) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		e := khEntry{file: file, line: n}
		switch fields[0] {
		case "@cert-authority":
			e.marker, fields = markCA, fields[1:]
		case "@revoked":
			e.marker, fields = markRevoked, fields[1:]
		default:
			if strings.HasPrefix(fields[0], "@") {
				continue
			}
		}
		if len(fields) < 3 {
			continue
		}
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.Join(fields[1:], " ")))
		if err != nil {
			continue
		}
		e.patterns = strings.Split(fields[0], ",")
		e.key = key
		db.entries = append(db.entries, e)
	}
}

// lookupName is how OpenSSH names host:port in known_hosts.
func lookupName(host string, port int) string {
	if port == 22 || port == 0 {
		return host
	}
	return "[" + host + "]:" + strconv.Itoa(port)
}

// matchHost reports whether a line's patterns cover name: one positive
// match and no negated match (OpenSSH match_hostname, case-insensitive).
func matchHost(name string, patterns []string) bool {
	name = strings.ToLower(name)
	found := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		var ok bool
		if strings.HasPrefix(p, "|1|") {
			ok = matchHashed(name, p)
		} else {
			ok = wildMatch(name, strings.ToLower(p))
		}
		if ok {
			if neg {
				return false
			}
			found = true
		}
	}
	return found
}

// wildMatch is OpenSSH's match_pattern: * any run, ? one character.
func wildMatch(s, pattern string) bool {
	// path.Match treats [ and \ specially; OpenSSH does not, so quote them.
	var b strings.Builder
	for _, r := range pattern {
		switch r {
		case '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	// path.Match stops * at '/', which host names never contain.
	ok, err := path.Match(b.String(), s)
	return err == nil && ok
}

func matchHashed(name, p string) bool {
	parts := strings.Split(p[3:], "|")
	if len(parts) != 2 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[0])
	want, err2 := base64.StdEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	m := hmac.New(sha1.New, salt)
	m.Write([]byte(name))
	return hmac.Equal(m.Sum(nil), want)
}

type hostStatus int

const (
	hostNew hostStatus = iota
	hostOK
	hostChanged
	hostRevoked
)

// sameKey compares public key material, a certificate standing for the key
// it certifies (OpenSSH sshkey_equal_public).
func sameKey(a, b ssh.PublicKey) bool {
	if c, ok := a.(*ssh.Certificate); ok {
		a = c.Key
	}
	if c, ok := b.(*ssh.Certificate); ok {
		b = c.Key
	}
	return bytes.Equal(a.Marshal(), b.Marshal())
}

// check is OpenSSH's check_hostkeys_by_key_or_type for one lookup name.
func (db *knownHostsDB) check(name string, key ssh.PublicKey) (hostStatus, *khEntry) {
	cert, wantCert := key.(*ssh.Certificate)
	want := markNone
	if wantCert {
		want = markCA
	}
	status := hostNew
	var found *khEntry
	for i := range db.entries {
		e := &db.entries[i]
		if e.marker != want || !matchHost(name, e.patterns) {
			continue
		}
		if wantCert {
			if sameKey(cert.SignatureKey, e.key) {
				status, found = hostOK, e
				break
			}
			continue
		}
		if sameKey(key, e.key) {
			status, found = hostOK, e
			break
		}
		// Any other key, of any type, is a changed key for OpenSSH; the
		// first such line is the one reported.
		if status != hostChanged {
			status, found = hostChanged, e
		}
	}
	for i := range db.entries {
		e := &db.entries[i]
		if e.marker != markRevoked || !matchHost(name, e.patterns) {
			continue
		}
		if sameKey(key, e.key) || (wantCert && sameKey(cert.SignatureKey, e.key)) {
			return hostRevoked, e
		}
	}
	return status, found
}

// verdict is what OpenSSH with StrictHostKeyChecking=yes decides about key
// presented by host (the HostName, or HostKeyAlias) on port.
type verdict struct {
	status hostStatus
	entry  *khEntry
	name   string // the lookup name the verdict is about
	// certProblem says why a presented certificate was not accepted, when
	// it was not and the plain key decided.
	certProblem string
}

func (db *knownHostsDB) verify(host string, port int, key ssh.PublicKey, now time.Time) verdict {
	v := db.verifyName(host, port, key, now, false)
	return v
}

func (db *knownHostsDB) verifyName(host string, port int, key ssh.PublicKey, now time.Time, noPort bool) verdict {
	name := lookupName(host, port)
	if noPort {
		name = host
	}
	status, e := db.check(name, key)
	v := verdict{status: status, entry: e, name: name}
	cert, isCert := key.(*ssh.Certificate)
	if status == hostOK && isCert {
		if p := certProblem(cert, host, now); p != "" {
			v.status, v.certProblem = hostNew, p
		}
	}
	if v.status == hostNew && !noPort && port != 22 && port != 0 {
		// OpenSSH: "checking without port identifier".
		if w := db.verifyName(host, port, key, now, true); w.status == hostOK {
			return w
		} else if v.certProblem == "" {
			v.certProblem = w.certProblem
		}
	}
	if isCert && v.status != hostOK && v.status != hostRevoked {
		// OpenSSH: "No matching CA found. Retry with plain key".
		w := db.verifyName(host, port, cert.Key, now, noPort)
		if w.certProblem == "" {
			w.certProblem = v.certProblem
			if w.certProblem == "" && w.status != hostOK {
				w.certProblem = "no @cert-authority line in known_hosts matches " + name + " and the CA that signed the host's certificate (" + ssh.FingerprintSHA256(cert.SignatureKey) + ")"
			}
		}
		return w
	}
	return v
}

// certProblem checks a host certificate like OpenSSH's check_host_cert:
// a host certificate, valid now, naming host among its principals.
func certProblem(c *ssh.Certificate, host string, now time.Time) string {
	if c.CertType != ssh.HostCert {
		return "the server's certificate is not a host certificate"
	}
	t := uint64(now.Unix())
	if t < c.ValidAfter {
		return "the server's host certificate is not valid yet (from " + time.Unix(int64(c.ValidAfter), 0).UTC().Format(time.RFC3339) + ")"
	}
	if c.ValidBefore != ssh.CertTimeInfinity && t >= c.ValidBefore {
		return "the server's host certificate expired at " + time.Unix(int64(c.ValidBefore), 0).UTC().Format(time.RFC3339)
	}
	if len(c.ValidPrincipals) == 0 {
		return ""
	}
	for _, p := range c.ValidPrincipals {
		if strings.EqualFold(p, host) {
			return ""
		}
	}
	return fmt.Sprintf("the server's host certificate is for %s, not %s (wrong principal); ask the host's owner to re-sign it with -n %s, or connect by a name it lists",
		strings.Join(c.ValidPrincipals, ", "), host, host)
}

// algorithms orders host key algorithms like OpenSSH's order_hostkeyalgs:
// types known_hosts holds for the host first (certificates when a CA line
// matches), then the rest, so the server presents the key that is known.
// known is false when no line matches.
func (db *knownHostsDB) algorithms(host string, port int) (algos []string, known bool) {
	names := []string{lookupName(host, port)}
	if port != 22 && port != 0 {
		names = append(names, host)
	}
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				algos = append(algos, x)
			}
		}
	}
	for _, e := range db.entries {
		if e.marker == markRevoked {
			continue
		}
		m := false
		for _, n := range names {
			m = m || matchHost(n, e.patterns)
		}
		if !m {
			continue
		}
		known = true
		if e.marker == markCA {
			for _, t := range []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSA} {
				add(certAlgorithms(t)...)
			}
			continue
		}
		add(algorithmsForKeyType(e.key.Type())...)
	}
	if !known {
		return preferredAlgorithms, false
	}
	// Then every plain type: a host whose known type is gone still
	// negotiates and the error names the key it has now.
	add(preferredAlgorithms...)
	return algos, true
}

func certAlgorithms(t string) []string {
	switch t {
	case ssh.KeyAlgoED25519:
		return []string{ssh.CertAlgoED25519v01}
	case ssh.KeyAlgoECDSA256:
		return []string{ssh.CertAlgoECDSA256v01}
	case ssh.KeyAlgoECDSA384:
		return []string{ssh.CertAlgoECDSA384v01}
	case ssh.KeyAlgoECDSA521:
		return []string{ssh.CertAlgoECDSA521v01}
	case ssh.KeyAlgoRSA:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01}
	}
	return nil
}

// loadKnownHosts reads the files; missing ones are skipped and reported.
func loadKnownHosts(files []string) (*knownHostsDB, []string, error) {
	db := &knownHostsDB{}
	var missing []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			missing = append(missing, f)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("known_hosts: %w", err)
		}
		db.parseFile(f, data)
	}
	return db, missing, nil
}
