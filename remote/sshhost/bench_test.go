package sshhost

import (
	"context"
	"testing"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// BenchmarkRunReuse compares running a command over the one shared
// connection with dialling (TCP, key exchange, auth) for every command.
func BenchmarkRunReuse(b *testing.B) {
	p := testbed.SSH(b)
	cfg := peerConfig(p)
	ctx := context.Background()
	cmd := hostexec.Command("true")

	b.Run("shared-connection", func(b *testing.B) {
		c := dialPeer(b, cfg)
		b.ResetTimer()
		for b.Loop() {
			if _, err := c.Run(ctx, cmd, hostexec.RunOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dial-per-command", func(b *testing.B) {
		for b.Loop() {
			c, err := Dial(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Run(ctx, cmd, hostexec.RunOptions{}); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}
