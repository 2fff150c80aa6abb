package sshhost

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kevinburke/ssh_config"
)

// SSHConfig is a set of parsed ssh_config files, read like OpenSSH reads
// them: for each setting the first file (and the first matching Host block)
// that gives it wins; IdentityFile accumulates.
type SSHConfig struct {
	files []sshConfigFile
}

type sshConfigFile struct {
	path string
	cfg  *ssh_config.Config
}

// DefaultSSHConfigFiles are ~/.ssh/config and /etc/ssh/ssh_config.
func DefaultSSHConfigFiles() []string {
	var out []string
	if home, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(home, ".ssh", "config"))
	}
	return append(out, SystemSSHConfig)
}

// LoadSSHConfig parses the files that exist; a file that does not parse is
// an error naming it.
func LoadSSHConfig(paths ...string) (*SSHConfig, error) {
	return LoadSSHConfigLenient(paths, nil, nil)
}

var warnedFiles sync.Map

// SystemSSHConfig is OpenSSH's system-wide client config.
const SystemSSHConfig = "/etc/ssh/ssh_config"

// LoadSSHConfigLenient is LoadSSHConfig for strict files followed by lenient
// ones: a lenient file (the system-wide one, which the user may not control
// and which may use directives this parser lacks, such as Match final) that
// does not parse is skipped with a warning.
func LoadSSHConfigLenient(strict, lenient []string, warn func(string)) (*SSHConfig, error) {
	c := &SSHConfig{}
	for _, p := range lenient {
		if _, err := LoadSSHConfig(p); err != nil {
			msg := fmt.Sprintf("%v; ignoring it", err)
			// Once per process: every host lookup reads the file again.
			if _, seen := warnedFiles.LoadOrStore(msg, true); !seen && warn != nil {
				warn(msg)
			}
			continue
		}
		strict = append(strict[:len(strict):len(strict)], p)
	}
	for _, p := range strict {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ssh_config %s: %w", p, err)
		}
		cfg, err := ssh_config.DecodeBytes(data)
		if err != nil {
			return nil, fmt.Errorf("ssh_config %s: %w", p, err)
		}
		c.files = append(c.files, sshConfigFile{path: p, cfg: cfg})
	}
	return c, nil
}

// HostSettings is what ssh_config says about one host alias. Zero values
// mean "not set"; Source names the file each set key came from.
type HostSettings struct {
	Alias               string
	HostName            string
	Port                int
	User                string
	IdentityFiles       []string
	IdentitiesOnly      bool
	KnownHosts          string // the first UserKnownHostsFile
	HostKeyAlias        string
	ProxyJump           string
	ProxyCommand        string
	ServerAliveInterval time.Duration
	ServerAliveCountMax int
	// Source maps each key found (e.g. "HostName") to its file.
	Source map[string]string
}

// Files lists the files the settings came from, in order, without repeats.
func (h HostSettings) Files() []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range []string{"HostName", "User", "Port", "IdentityFile", "IdentitiesOnly", "UserKnownHostsFile", "HostKeyAlias", "ProxyJump", "ProxyCommand", "ServerAliveInterval", "ServerAliveCountMax"} {
		if f, ok := h.Source[k]; ok && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func (c *SSHConfig) get(alias, key string) (string, string, error) {
	if c == nil {
		return "", "", nil
	}
	for _, f := range c.files {
		v, err := f.cfg.Get(alias, key)
		if err != nil {
			return "", "", fmt.Errorf("ssh_config %s: %s: %w", f.path, key, err)
		}
		if v != "" {
			return v, f.path, nil
		}
	}
	return "", "", nil
}

// Lookup resolves alias.
func (c *SSHConfig) Lookup(alias string) (HostSettings, error) {
	h := HostSettings{Alias: alias, Source: map[string]string{}}
	var firstErr error
	str := func(key string) string {
		v, file, err := c.get(alias, key)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if v != "" {
			h.Source[key] = file
		}
		return v
	}
	bad := func(key, v, want string) {
		if firstErr == nil {
			firstErr = fmt.Errorf("ssh_config %s: %s %q for host %s: %s", h.Source[key], key, v, alias, want)
		}
	}
	h.HostName = str("HostName")
	h.User = str("User")
	if v := str("Port"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			bad("Port", v, "not a TCP port")
		}
		h.Port = n
	}
	h.HostKeyAlias = str("HostKeyAlias")
	if v := str("IdentitiesOnly"); v != "" {
		h.IdentitiesOnly = strings.EqualFold(v, "yes")
	}
	if v := str("ProxyJump"); v != "" && !strings.EqualFold(v, "none") {
		h.ProxyJump = v
	}
	if v := str("ProxyCommand"); v != "" && !strings.EqualFold(v, "none") {
		h.ProxyCommand = v
	}
	if v := str("ServerAliveInterval"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad("ServerAliveInterval", v, "not a number of seconds")
		}
		h.ServerAliveInterval = time.Duration(n) * time.Second
		if n == 0 {
			h.ServerAliveInterval = -1 // 0 turns keepalives off in OpenSSH
		}
	}
	if v := str("ServerAliveCountMax"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad("ServerAliveCountMax", v, "not a positive number")
		}
		h.ServerAliveCountMax = n
	}
	hostname := h.HostName
	if hostname == "" {
		hostname = alias
	}
	expand := func(p, remoteUser string) string { return expandTokens(p, hostname, alias, remoteUser) }
	if v := str("UserKnownHostsFile"); v != "" {
		h.KnownHosts = expand(strings.Fields(v)[0], h.User)
	}
	if c != nil {
		for _, f := range c.files {
			all, err := f.cfg.GetAll(alias, "IdentityFile")
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("ssh_config %s: IdentityFile: %w", f.path, err)
			}
			for _, v := range all {
				if strings.EqualFold(v, "none") {
					continue
				}
				if _, ok := h.Source["IdentityFile"]; !ok {
					h.Source["IdentityFile"] = f.path
				}
				h.IdentityFiles = append(h.IdentityFiles, expand(v, h.User))
			}
		}
	}
	if strings.HasPrefix(h.HostName, "%h") || strings.Contains(h.HostName, "%") {
		h.HostName = strings.ReplaceAll(strings.ReplaceAll(h.HostName, "%h", alias), "%%", "%")
	}
	return h, firstErr
}

// expandTokens handles ~ and the %-tokens OpenSSH allows in file names.
func expandTokens(p, hostname, alias, remoteUser string) string {
	home, _ := os.UserHomeDir()
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = home + p[1:]
	}
	local := ""
	if u, err := user.Current(); err == nil {
		local = u.Username
	}
	var b bytes.Buffer
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+1 >= len(p) {
			b.WriteByte(p[i])
			continue
		}
		i++
		switch p[i] {
		case 'd':
			b.WriteString(home)
		case 'h':
			b.WriteString(hostname)
		case 'n':
			b.WriteString(alias)
		case 'r':
			b.WriteString(remoteUser)
		case 'u':
			b.WriteString(local)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(p[i])
		}
	}
	return b.String()
}

// JumpSpec is one hop of a ProxyJump list.
type JumpSpec struct {
	User string
	Host string
	Port int
}

// ParseProxyJump parses "[user@]host[:port][,...]" (and ssh://user@host:port).
func ParseProxyJump(s string) ([]JumpSpec, error) {
	var out []JumpSpec
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		part = strings.TrimPrefix(part, "ssh://")
		if part == "" {
			return nil, fmt.Errorf("proxy jump %q: empty hop", s)
		}
		var j JumpSpec
		if i := strings.LastIndex(part, "@"); i >= 0 {
			j.User, part = part[:i], part[i+1:]
			if j.User == "" {
				return nil, fmt.Errorf("proxy jump %q: empty user before @", s)
			}
		}
		host := part
		if strings.HasPrefix(part, "[") || strings.Count(part, ":") == 1 {
			h, p, err := net.SplitHostPort(part)
			if err != nil {
				return nil, fmt.Errorf("proxy jump %q: %v", s, err)
			}
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("proxy jump %q: %q is not a TCP port", s, p)
			}
			host, j.Port = h, n
		}
		if host == "" || strings.ContainsAny(host, " \t/'\"`$;&|<>\\") {
			return nil, fmt.Errorf("proxy jump %q: %q is not a host name", s, host)
		}
		j.Host = host
		out = append(out, j)
	}
	return out, nil
}

// ResolveJumps turns a ProxyJump list into hop configs: each hop's alias is
// looked up in ssh_config (a hop's own ProxyJump goes before it, as with
// OpenSSH's ssh -J), and what ssh_config leaves unset comes from base (key,
// known_hosts, user, timeouts).
func (c *SSHConfig) ResolveJumps(spec string, base Config) ([]Config, error) {
	return c.resolveJumps(spec, base, 0)
}

func (c *SSHConfig) resolveJumps(spec string, base Config, depth int) ([]Config, error) {
	if depth > 8 {
		return nil, fmt.Errorf("proxy jump %q: more than 8 nested jumps (a loop?)", spec)
	}
	hops, err := ParseProxyJump(spec)
	if err != nil {
		return nil, err
	}
	var out []Config
	for _, j := range hops {
		h, err := c.Lookup(j.Host)
		if err != nil {
			return nil, err
		}
		hop := base
		hop.Jumps, hop.ProxyCommand, hop.DialContext, hop.Invalid = nil, "", nil, nil
		hop.HostKeyAlias = h.HostKeyAlias
		hop.Host = j.Host
		if h.HostName != "" {
			hop.Host = h.HostName
		}
		hop.Port = 22
		if h.Port != 0 {
			hop.Port = h.Port
		}
		if j.Port != 0 {
			hop.Port = j.Port
		}
		if h.User != "" {
			hop.User = h.User
		}
		if j.User != "" {
			hop.User = j.User
		}
		if len(h.IdentityFiles) > 0 {
			hop.KeyFile, hop.KeyPEM, hop.KeyFiles = "", nil, h.IdentityFiles
			hop.KeyName = "IdentityFile"
		}
		if h.IdentitiesOnly {
			hop.IdentitiesOnly = true
		}
		if h.KnownHosts != "" {
			hop.KnownHosts = h.KnownHosts
		}
		if h.ServerAliveInterval != 0 {
			hop.KeepAlive = h.ServerAliveInterval
		}
		if h.ServerAliveCountMax != 0 {
			hop.KeepAliveCountMax = h.ServerAliveCountMax
		}
		if h.ProxyJump != "" {
			inner, err := c.resolveJumps(h.ProxyJump, base, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
		}
		out = append(out, hop)
	}
	return out, nil
}

// Route says in words where cfg connects: "10.0.1.5:2222 as ec2-user via
// bastion", for doctor and logs.
func (c Config) Route() string {
	port := c.Port
	if port == 0 {
		port = 22
	}
	s := fmt.Sprintf("%s as %s", net.JoinHostPort(c.Host, strconv.Itoa(port)), c.User)
	var via []string
	for _, j := range c.Jumps {
		p := j.Port
		if p == 0 {
			p = 22
		}
		via = append(via, j.User+"@"+net.JoinHostPort(j.Host, strconv.Itoa(p)))
	}
	if len(via) > 0 {
		s += " via " + strings.Join(via, ", ")
	}
	if c.ProxyCommand != "" {
		s += " through proxy command " + strconv.Quote(c.ProxyCommand)
	}
	return s
}
