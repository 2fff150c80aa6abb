package hostexec_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/remote/hostexec"
	"github.com/bookshop-ops/gantry/remote/localhost"
)

func TestLoggedRecordsEveryCommand(t *testing.T) {
	var mu sync.Mutex
	var recs []hostexec.CommandRecord
	r := hostexec.Logged(localhost.Host{}, "dev (local)", func(rec hostexec.CommandRecord) {
		mu.Lock()
		defer mu.Unlock()
		recs = append(recs, rec)
	})
	ctx := context.Background()
	var out []string
	res, err := r.Run(ctx, hostexec.Command("sh", "-c", "sleep 0.05; echo hi"), hostexec.RunOptions{OnStdout: func(l string) { out = append(out, l) }})
	if err != nil || res.Stdout != "hi\n" || len(out) != 1 {
		t.Fatalf("run: %v %q %q", err, res.Stdout, out)
	}
	_, err = r.Run(ctx, hostexec.Command("sh", "-c", "exit 3"), hostexec.RunOptions{})
	var exit *hostexec.ExitError
	if !errors.As(err, &exit) || exit.Code != 3 {
		t.Fatalf("exit: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := r.Run(cctx, hostexec.Command("sleep", "5"), hostexec.RunOptions{}); err == nil {
		t.Fatal("cancelled command succeeded")
	}

	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	ok, fail, cancelled := recs[0], recs[1], recs[2]
	if ok.Host != "dev (local)" || !strings.Contains(ok.Cmd, "echo hi") || ok.ExitCode != 0 || !ok.OK() ||
		ok.Duration < 50*time.Millisecond || ok.Start.IsZero() {
		t.Errorf("ok record %+v", ok)
	}
	if fail.ExitCode != 3 || fail.OK() || !strings.Contains(fail.Err, "status 3") {
		t.Errorf("failed record %+v", fail)
	}
	if cancelled.ExitCode != -1 || cancelled.Err == "" || !cancelled.Cancelled || fail.Cancelled {
		t.Errorf("cancelled record %+v", cancelled)
	}
}

func TestLoggedNilRecordIsTheRunner(t *testing.T) {
	var h hostexec.Runner = localhost.Host{}
	if hostexec.Logged(h, "x", nil) != h {
		t.Fatal("Logged with no record should return the runner")
	}
}
