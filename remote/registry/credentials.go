package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Credentials log in to a registry host. Printing them never shows the password.
type Credentials struct {
	Host     string
	Username string
	Password string `json:"-"`
	// ExpiresAt is when the password stops working; zero means it does not expire.
	ExpiresAt time.Time
}

// String describes the credentials with the password redacted.
func (c Credentials) String() string {
	pw := ""
	if c.Password != "" {
		pw = "REDACTED"
	}
	exp := "never"
	if !c.ExpiresAt.IsZero() {
		exp = c.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("Credentials{Host: %q, Username: %q, Password: %q, ExpiresAt: %s}", c.Host, c.Username, pw, exp)
}

// GoString is String, so %#v redacts too.
func (c Credentials) GoString() string { return c.String() }

// Format makes every verb (%v, %+v, %#v, %s, %q, ...) print the redacted form.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", c.String())
		return
	}
	_, _ = f.Write([]byte(c.String()))
}

// LogValue keeps the password out of slog output.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Anonymous reports whether there is nothing to log in with.
func (c Credentials) Anonymous() bool { return c.Username == "" && c.Password == "" }

// refreshMargin is how long before expiry cached credentials are fetched again.
const refreshMargin = 5 * time.Minute

// loginCache holds the last credentials and fetches new ones when they are about to expire.
type loginCache struct {
	mu    sync.Mutex
	creds Credentials
	ok    bool
	now   func() time.Time
}

// get returns the cached credentials while fresh; otherwise it fetches once and
// returns the result even if it is itself already expired (moto's tokens are), so a
// caller never loops.
func (l *loginCache) get(ctx context.Context, fetch func(context.Context) (Credentials, error)) (Credentials, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	if l.ok && (l.creds.ExpiresAt.IsZero() || l.creds.ExpiresAt.Sub(now()) > refreshMargin) {
		return l.creds, nil
	}
	c, err := fetch(ctx)
	if err != nil {
		return Credentials{}, err
	}
	l.creds, l.ok = c, true
	return c, nil
}

// decodeAWSToken splits a base64 "user:password" authorization token. Its errors
// never quote the token.
func decodeAWSToken(token string) (user, password string, err error) {
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return "", "", errors.New("authorization token is not base64")
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" || password == "" {
		return "", "", errors.New("authorization token is not user:password")
	}
	return user, password, nil
}
