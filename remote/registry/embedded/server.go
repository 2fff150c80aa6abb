// Package embedded serves an OCI registry in-process (distribution/v3 with filesystem
// storage) on a fixed loopback address, so image names stay the same between gantry
// runs and the local Docker engine can push to it without TLS.
package embedded

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // registers the filesystem driver
	"github.com/sirupsen/logrus"
)

// DefaultAddr is where the embedded registry listens unless registry.host names a port.
const DefaultAddr = "127.0.0.1:5055"

// IdentityHeader marks responses of a gantry embedded registry; its value identifies
// the storage directory without revealing it.
const IdentityHeader = "Gantry-Embedded-Registry"

// Options configure Start.
type Options struct {
	// Dir is the storage root (created if missing).
	Dir string
	// Addr is host:port on a loopback address; empty means DefaultAddr.
	Addr string
	// Logf receives the registry's warnings and errors; nil discards them.
	Logf func(format string, args ...any)
}

// Server is a running embedded registry, or a handle on one another gantry process serves.
type Server struct {
	addr   string
	shared bool
	id     string
	srv    *http.Server
	app    *handlers.App
	served chan struct{}
	once   sync.Once
	err    error

	connMu sync.Mutex
	fresh  map[net.Conn]bool // accepted connections that have not sent a request yet
}

// Start serves the registry at opts.Addr. If another gantry already serves an embedded
// registry there (a TUI and a CLI run at once), Start returns a shared handle on it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	addr := opts.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded registry address %q: %w; write it as 127.0.0.1:PORT", addr, err)
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return nil, fmt.Errorf("embedded registry address %q is not a loopback address; use 127.0.0.1:PORT", addr)
	}
	if opts.Dir == "" {
		return nil, errors.New("embedded registry: no storage directory; set GANTRY_DATA_DIR")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("embedded registry storage: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded registry storage: %w", err)
	}
	sum := sha256.Sum256([]byte(dir))
	id := hex.EncodeToString(sum[:8])
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("embedded registry: listen on %s: %w", addr, err)
		}
		other, perr := probe(ctx, addr)
		if perr != nil {
			return nil, fmt.Errorf("embedded registry: %s is in use by another program (%v); set registry.host to a free port, e.g. host = \"127.0.0.1:5056\"", addr, perr)
		}
		if other != id {
			logf("embedded registry: using the one another gantry serves at %s, which stores images elsewhere", addr)
		} else {
			logf("embedded registry: using the one another gantry serves at %s", addr)
		}
		return &Server{addr: addr, shared: true, id: other}, nil
	}

	sinks.add(id+addr, logf)
	app, err := newApp(context.WithoutCancel(ctx), dir)
	if err != nil {
		sinks.remove(id + addr)
		ln.Close()
		return nil, err
	}
	s := &Server{addr: ln.Addr().String(), id: id, app: app, served: make(chan struct{}), fresh: map[net.Conn]bool{}}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(IdentityHeader, id)
			app.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(logfWriter(logf), "embedded registry: ", 0),
		ConnState:         s.track,
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("embedded registry: serve %s: %v", s.addr, err)
		}
	}()
	return s, nil
}

// newApp builds the distribution application; NewApp reports errors by panicking.
func newApp(ctx context.Context, dir string) (app *handlers.App, err error) {
	quietLogrus()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	cfg := &configuration.Configuration{
		Version: configuration.CurrentVersion,
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": dir},
			"delete":     configuration.Parameters{"enabled": true},
			"cache":      configuration.Parameters{"blobdescriptor": "inmemory"},
		},
	}
	cfg.HTTP.Secret = hex.EncodeToString(secret)
	cfg.Log.AccessLog.Disabled = true
	cfg.Log.Level = "warn"
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("embedded registry: %v", p)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

// probe asks addr whether it is a gantry embedded registry and returns its identity.
func probe(ctx context.Context, addr string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	var last error
	// The other process may have bound the port a moment ago and not serve yet.
	for i := 0; i < 10; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
		if err != nil {
			return "", err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if id := resp.Header.Get(IdentityHeader); id != "" {
				return id, nil
			}
			return "", errors.New("it is not a gantry embedded registry")
		}
		last = err
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return "", last
}

// track remembers connections that never sent a request: clients dial spares, and
// http.Server.Shutdown would wait 5 seconds for each of them.
func (s *Server) track(c net.Conn, st http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if st == http.StateNew {
		s.fresh[c] = true
	} else {
		delete(s.fresh, c)
	}
}

func (s *Server) closeFresh() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c := range s.fresh {
		c.Close()
		delete(s.fresh, c)
	}
}

// Addr is the host:port the registry answers on.
func (s *Server) Addr() string { return s.addr }

// Shared reports whether another gantry process serves the registry.
func (s *Server) Shared() bool { return s.shared }

// Close stops serving (a shared handle only forgets the other server).
func (s *Server) Close() error {
	if s.shared {
		return nil
	}
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.srv.Shutdown(ctx) }()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
	wait:
		for {
			s.closeFresh()
			select {
			case s.err = <-done:
				break wait
			case <-tick.C:
			}
		}
		<-s.served
		if err := s.app.Shutdown(); err != nil && s.err == nil {
			s.err = err
		}
		sinks.remove(s.id + s.addr)
	})
	return s.err
}

// sinks are the Logf functions of the running servers. distribution logs through
// logrus's standard logger, which is global, so every running server's Logf hears it.
var sinks = &sinkSet{m: map[string]func(string, ...any){}}

type sinkSet struct {
	mu sync.Mutex
	m  map[string]func(string, ...any)
}

func (s *sinkSet) add(k string, f func(string, ...any)) {
	s.mu.Lock()
	s.m[k] = f
	s.mu.Unlock()
}

func (s *sinkSet) remove(k string) {
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

func (s *sinkSet) logf(format string, args ...any) {
	s.mu.Lock()
	fs := make([]func(string, ...any), 0, len(s.m))
	for _, f := range s.m {
		fs = append(fs, f)
	}
	s.mu.Unlock()
	for _, f := range fs {
		f(format, args...)
	}
}

var quietOnce sync.Once

// quietLogrus keeps distribution off stdout/stderr (the TUI owns the terminal) and
// forwards its warnings and errors to the servers' Logf.
func quietLogrus() {
	quietOnce.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.WarnLevel)
		logrus.AddHook(forwardHook{})
	})
}

type forwardHook struct{}

func (forwardHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (forwardHook) Fire(e *logrus.Entry) error {
	// A 404 is an answer (tag not pushed yet, blob to upload), not a registry fault.
	if fmt.Sprint(e.Data["http.response.status"]) == "404" {
		return nil
	}
	msg := e.Message
	for _, k := range []string{"err.code", "err.message", logrus.ErrorKey} {
		if v, ok := e.Data[k]; ok {
			msg += fmt.Sprintf(" %s=%v", k, v)
		}
	}
	sinks.logf("embedded registry: %s: %s", e.Level, msg)
	return nil
}

type logfWriter func(string, ...any)

func (w logfWriter) Write(p []byte) (int, error) {
	w("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
