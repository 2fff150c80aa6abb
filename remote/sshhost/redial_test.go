package sshhost

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// TestRedialerDialsAgainAfterDrop cuts the connection under a Redialer: a command
// cut off fails (it is not run twice), and the next one runs on a fresh connection.
func TestRedialerDialsAgainAfterDrop(t *testing.T) {
	p := testbed.SSH(t)
	var mu sync.Mutex
	var conns []net.Conn
	cfg := Config{Host: p.Host, Port: p.Port, User: p.User, KeyFile: p.KeyFile, KnownHosts: p.KnownHosts,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
			return c, err
		}}
	r, err := DialRedialing(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if _, err := r.Run(ctx, hostexec.Command("true"), hostexec.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	cut := func() {
		mu.Lock()
		defer mu.Unlock()
		conns[len(conns)-1].Close()
	}
	// Cut during a command: it fails.
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, hostexec.Command("sleep", "5"), hostexec.RunOptions{})
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	cut()
	select {
	case err := <-done:
		var exit *hostexec.ExitError
		if err == nil || errors.As(err, &exit) {
			t.Fatalf("a command cut off by the drop = %v, want a connection error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cut-off command hangs")
	}
	res, err := r.Run(ctx, hostexec.Command("echo", "again"), hostexec.RunOptions{})
	if err != nil || strings.TrimSpace(res.Stdout) != "again" {
		t.Fatalf("after the drop: %q, %v", res.Stdout, err)
	}
	mu.Lock()
	n := len(conns)
	mu.Unlock()
	if n != 2 {
		t.Fatalf("%d connections dialled, want 2", n)
	}
	// A drop between commands is healed before the next one runs.
	cut()
	time.Sleep(200 * time.Millisecond)
	if _, err := r.Run(ctx, hostexec.Command("true"), hostexec.RunOptions{}); err != nil {
		t.Fatalf("after a drop between commands: %v", err)
	}
	if err := r.Close(); err != nil && !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if _, err := r.Run(ctx, hostexec.Command("true"), hostexec.RunOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v", err)
	}
}
