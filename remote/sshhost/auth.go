package sshhost

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
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
		return "give the key's passphrase or use an unencrypted deploy key"
	case e.Setting == KeyEnv:
		return "set " + KeyEnv + " to the private key text (the whole -----BEGIN ... PRIVATE KEY----- block)"
	default:
		return "set " + e.Setting + " to your private key file or put the key text in " + KeyEnv
	}
}

func (e *KeyError) Unwrap() error { return e.Err }

var errNeedPassphrase = errors.New("key is encrypted and no passphrase was given")

// loadSigners returns the configured key's signer, if any.
func loadSigners(cfg Config) ([]ssh.Signer, error) {
	switch {
	case len(cfg.KeyPEM) > 0:
		s, err := parseKey(cfg.KeyPEM, cfg.Passphrase)
		if err != nil {
			return nil, &KeyError{Setting: KeyEnv, Err: err}
		}
		return []ssh.Signer{s}, nil
	case cfg.KeyFile != "":
		pem, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is already in KeyError
			}
			return nil, &KeyError{Setting: cfg.keyName(), Path: cfg.KeyFile, Err: err}
		}
		s, err := parseKey(pem, cfg.Passphrase)
		if err != nil {
			return nil, &KeyError{Setting: cfg.keyName(), Path: cfg.KeyFile, Err: err}
		}
		return []ssh.Signer{s}, nil
	}
	return nil, nil
}

// parseKey parses a private key, returning only errors that cannot echo the
// key's bytes.
func parseKey(pem, passphrase []byte) (ssh.Signer, error) {
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
		return s, nil
	}
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, errNeedPassphrase
	case strings.Contains(err.Error(), "decryption password incorrect"):
		return nil, errors.New("wrong passphrase")
	case strings.HasPrefix(err.Error(), "ssh: no key found"):
		return nil, errors.New("no private key found")
	case strings.HasPrefix(err.Error(), "ssh: unhandled key type"), strings.HasPrefix(err.Error(), "ssh: unsupported key type"):
		return nil, errors.New("unsupported private key type")
	default:
		// Parser errors from asn1 and friends may quote fragments of the
		// input, so they are not passed on.
		return nil, errors.New("not a valid private key")
	}
}

// authMethod combines the configured key with the ssh-agent's keys into one
// public-key method: x/crypto tries each method name only once, so a second
// publickey method would never be used. The returned func releases the agent.
func authMethod(cfg Config) (ssh.AuthMethod, func(), error) {
	signers, err := loadSigners(cfg)
	if err != nil {
		return nil, func() {}, err
	}
	var ag agent.ExtendedAgent
	release := func() {}
	if cfg.UseAgent {
		if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
			conn, err := net.Dial("unix", sock)
			switch {
			case err == nil:
				ag = agent.NewClient(conn)
				release = func() { conn.Close() }
			case len(signers) == 0:
				return nil, release, fmt.Errorf("ssh-agent (SSH_AUTH_SOCK=%s): %w", sock, err)
			case cfg.Warn != nil:
				cfg.Warn(fmt.Sprintf("ssh-agent unreachable (SSH_AUTH_SOCK=%s): %v; using %s only", sock, err, cfg.keyName()))
			}
		}
	}
	if len(signers) == 0 && ag == nil {
		hint := "set " + cfg.keyName() + " or " + KeyEnv
		if cfg.UseAgent {
			hint += ", or start ssh-agent (SSH_AUTH_SOCK) with the key loaded"
		}
		return nil, release, fmt.Errorf("%w; %s", ErrNoKey, hint)
	}
	return ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
		all := signers
		if ag != nil {
			if more, err := ag.Signers(); err == nil {
				all = append(all[:len(all):len(all)], more...)
			}
		}
		return all, nil
	}), release, nil
}
