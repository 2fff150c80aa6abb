package sshhost

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/term"
)

// KeyEnv is the environment variable that carries private key text (KeyPEM),
// named in error messages so users know the alternative to a key file.
const KeyEnv = "GANTRY_SSH_KEY"

// ErrNoKey means no private key and no usable ssh-agent were configured.
var ErrNoKey = errors.New("no SSH key configured")

// KeyError reports a private key that could not be loaded. It never contains
// key material or the passphrase.
type KeyError struct {
	Setting string // where the key was configured: Config.KeyName or KeyEnv
	Path    string // key file path; empty for key text
	Err     error
}

func (e *KeyError) Error() string {
	var b strings.Builder
	b.WriteString(e.Setting)
	if e.Path != "" {
		b.WriteString(": " + e.Path)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String() + "; " + e.hint()
}

func (e *KeyError) hint() string {
	switch {
	case errors.Is(e.Err, errNeedPassphrase):
		return "load the key into ssh-agent (ssh-add), set " + PassphraseEnv + ", or run gantry in a terminal to be asked for it"
	case e.Setting == KeyEnv:
		return "set " + KeyEnv + " to the private key text (the whole -----BEGIN ... PRIVATE KEY----- block)"
	default:
		return "set " + e.Setting + " to your private key file or put the key text in " + KeyEnv
	}
}

func (e *KeyError) Unwrap() error { return e.Err }

var errNeedPassphrase = errors.New("key is encrypted and no passphrase was given")

// PassphraseEnv is the environment variable that carries the passphrase of
// an encrypted key, named in error messages.
const PassphraseEnv = "GANTRY_SSH_KEY_PASSPHRASE"

// keySource is one configured private key.
type keySource struct {
	setting string // KeyEnv, Config.KeyName or "IdentityFile"
	path    string
	pem     []byte
	// optional keys (ssh_config IdentityFile) that do not exist are skipped
	// like OpenSSH does.
	optional bool
}

func keySources(cfg Config) []keySource {
	var out []keySource
	switch {
	case len(cfg.KeyPEM) > 0:
		out = append(out, keySource{setting: KeyEnv, pem: cfg.KeyPEM})
	case cfg.KeyFile != "":
		out = append(out, keySource{setting: cfg.keyName(), path: cfg.KeyFile})
	}
	for _, f := range cfg.KeyFiles {
		if f != "" && f != cfg.KeyFile {
			out = append(out, keySource{setting: "IdentityFile", path: f, optional: true})
		}
	}
	return out
}

// agentHas finds the agent's signer for pub.
func agentHas(agentSigners []ssh.Signer, pub ssh.PublicKey) ssh.Signer {
	if pub == nil {
		return nil
	}
	for _, s := range agentSigners {
		if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
			return s
		}
	}
	return nil
}

// loadSigners returns the configured keys' signers, the agent's signer where
// the agent holds the key (so an encrypted key it holds needs no passphrase).
func loadSigners(cfg Config, agentSigners []ssh.Signer) ([]ssh.Signer, error) {
	var out []ssh.Signer
	for _, src := range keySources(cfg) {
		pem := src.pem
		if pem == nil {
			var err error
			pem, err = os.ReadFile(src.path)
			if err != nil {
				if src.optional && errors.Is(err, fs.ErrNotExist) {
					continue
				}
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err // the path is already in KeyError
				}
				return nil, &KeyError{Setting: src.setting, Path: src.path, Err: err}
			}
		}
		s, pub, err := parseKeyPub(pem, nil)
		if errors.Is(err, errNeedPassphrase) {
			if pub == nil && src.path != "" {
				pub = readPublicKey(src.path + ".pub")
			}
			if a := agentHas(agentSigners, pub); a != nil {
				out = append(out, a)
				continue
			}
			pass := cfg.Passphrase
			if len(pass) == 0 && cfg.PassphrasePrompt != nil {
				what := src.path
				if what == "" {
					what = src.setting
				}
				p, perr := cfg.PassphrasePrompt(fmt.Sprintf("Passphrase for %s: ", what))
				if perr != nil {
					return nil, &KeyError{Setting: src.setting, Path: src.path, Err: fmt.Errorf("%w (prompt: %v)", errNeedPassphrase, perr)}
				}
				pass = p
			}
			if len(pass) > 0 {
				s, _, err = parseKeyPub(pem, pass)
			}
		}
		if err != nil {
			return nil, &KeyError{Setting: src.setting, Path: src.path, Err: err}
		}
		if a := agentHas(agentSigners, s.PublicKey()); a != nil {
			s = a
		}
		out = append(out, s)
	}
	return out, nil
}

func readPublicKey(file string) ssh.PublicKey {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil
	}
	return k
}

func parseKey(pem, passphrase []byte) (ssh.Signer, error) {
	s, _, err := parseKeyPub(pem, passphrase)
	return s, err
}

// parseKeyPub parses a private key, returning only errors that cannot echo
// the key's bytes; for an encrypted key without passphrase it returns the
// public key when the file carries it.
func parseKeyPub(pem, passphrase []byte) (ssh.Signer, ssh.PublicKey, error) {
	var (
		s   ssh.Signer
		err error
	)
	if len(passphrase) > 0 {
		s, err = ssh.ParsePrivateKeyWithPassphrase(pem, passphrase)
	} else {
		s, err = ssh.ParsePrivateKey(pem)
	}
	if err == nil {
		return s, s.PublicKey(), nil
	}
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, missing.PublicKey, errNeedPassphrase
	case strings.Contains(err.Error(), "decryption password incorrect"):
		return nil, nil, errors.New("wrong passphrase")
	case strings.HasPrefix(err.Error(), "ssh: no key found"):
		return nil, nil, errors.New("no private key found")
	case strings.HasPrefix(err.Error(), "ssh: unhandled key type"), strings.HasPrefix(err.Error(), "ssh: unsupported key type"):
		return nil, nil, errors.New("unsupported private key type")
	default:
		// Parser errors from asn1 and friends may quote fragments of the
		// input, so they are not passed on.
		return nil, nil, errors.New("not a valid private key")
	}
}

// authMethod combines the configured keys with the ssh-agent's keys into one
// public-key method: x/crypto tries each method name only once, so a second
// publickey method would never be used. The agent is asked first, so a key
// it holds needs no passphrase. The returned func releases the agent.
func authMethod(cfg Config) (ssh.AuthMethod, func(), error) {
	var ag agent.ExtendedAgent
	release := func() {}
	var agentErr error
	var agentSigners []ssh.Signer
	if cfg.UseAgent {
		sock := cfg.AgentSocket
		if sock == "" {
			sock = os.Getenv("SSH_AUTH_SOCK")
		}
		if sock != "" {
			conn, err := net.Dial("unix", sock)
			if err == nil {
				ag = agent.NewClient(conn)
				release = func() { conn.Close() }
				agentSigners, _ = ag.Signers()
			} else {
				agentErr = fmt.Errorf("ssh-agent (SSH_AUTH_SOCK=%s): %w", sock, err)
			}
		}
	}
	signers, err := loadSigners(cfg, agentSigners)
	if err != nil {
		return nil, release, err
	}
	if agentErr != nil {
		if len(signers) == 0 {
			return nil, release, agentErr
		}
		if cfg.Warn != nil {
			cfg.Warn(fmt.Sprintf("%v; using %s only", agentErr, cfg.keyName()))
		}
	}
	if len(signers) == 0 && (ag == nil || cfg.IdentitiesOnly) {
		hint := "set " + cfg.keyName() + " or " + KeyEnv
		if cfg.UseAgent {
			hint += ", or start ssh-agent (SSH_AUTH_SOCK) with the key loaded"
		}
		return nil, release, fmt.Errorf("%w; %s", ErrNoKey, hint)
	}
	return ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
		all := signers[:len(signers):len(signers)]
		if ag != nil && !cfg.IdentitiesOnly {
			more, err := ag.Signers()
			if err == nil {
				for _, m := range more {
					if agentHas(all, m.PublicKey()) == nil {
						all = append(all, m)
					}
				}
			}
		}
		return all, nil
	}), release, nil
}

// TTYPassphrase asks on the controlling terminal (/dev/tty) for a passphrase
// without echoing it; for Config.PassphrasePrompt in interactive CLI runs.
func TTYPassphrase(prompt string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("no terminal to ask on: %w", err)
	}
	defer tty.Close()
	if _, err := tty.WriteString(prompt); err != nil {
		return nil, err
	}
	p, err := term.ReadPassword(int(tty.Fd()))
	_, _ = tty.WriteString("\n")
	if err != nil {
		return nil, err
	}
	return p, nil
}
