package pipeline

import (
	"encoding/base64"
	"sort"
	"strings"
	"sync"
)

// Mask is the replacement shown instead of a secret.
const Mask = "***"

// Masker replaces registered secrets in text. It is safe for concurrent use.
type Masker struct {
	mu       sync.RWMutex
	secrets  map[string]bool
	replacer *strings.Replacer
}

// NewMasker returns an empty Masker.
func NewMasker() *Masker { return &Masker{secrets: map[string]bool{}} }

// Add registers a secret. Very short values are ignored since masking them would
// garble ordinary text; the base64 form is registered too, as credentials travel encoded.
func (m *Masker) Add(secret string) bool {
	secret = strings.TrimSpace(secret)
	if len(secret) < 4 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secrets[secret] {
		return false
	}
	m.secrets[secret] = true
	if len(secret) >= 8 {
		m.secrets[base64.StdEncoding.EncodeToString([]byte(secret))] = true
	}
	// Longest first, so a secret that contains another is masked whole.
	list := make([]string, 0, len(m.secrets))
	for s := range m.secrets {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, Mask)
	}
	m.replacer = strings.NewReplacer(pairs...)
	return true
}

// Secrets returns the registered secrets, for printers that must announce them (e.g. ::add-mask::).
func (m *Masker) Secrets() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.secrets))
	for s := range m.secrets {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Mask returns s with every registered secret replaced.
func (m *Masker) Mask(s string) string {
	m.mu.RLock()
	r := m.replacer
	m.mu.RUnlock()
	if r == nil {
		return s
	}
	return r.Replace(s)
}

// maskedError keeps the original error for errors.Is/As but prints masked text.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

// MaskError returns err with its message masked; nil stays nil.
func (m *Masker) MaskError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	masked := m.Mask(msg)
	if masked == msg {
		return err
	}
	return &maskedError{msg: masked, err: err}
}
