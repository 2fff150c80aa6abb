//go:build linux

package embedded

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestQuietTerminal checks that serving, faulting and closing write nothing to the
// process's stdout or stderr (the TUI owns the terminal). It swaps file descriptors
// 1 and 2 for a pipe, so it must not log until they are restored.
func TestQuietTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := map[int]int{}
	for _, fd := range []int{1, 2} {
		d, err := syscall.Dup(fd)
		if err != nil {
			t.Fatal(err)
		}
		saved[fd] = d
	}
	restore := func() {
		for fd, d := range saved {
			syscall.Dup3(d, fd, 0)
			syscall.Close(d)
		}
		saved = nil
	}
	defer func() {
		if saved != nil {
			restore()
		}
	}()
	for fd := range saved {
		if err := syscall.Dup3(int(w.Fd()), fd, 0); err != nil {
			restore()
			t.Fatal(err)
		}
	}
	var problems []string
	s, err := Start(context.Background(), Options{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		problems = append(problems, "Start: "+err.Error())
	} else {
		base := "http://" + s.Addr() + "/v2/app/manifests/"
		for _, req := range []*http.Request{
			mustReq(http.MethodGet, base+"absent", ""),
			mustReq(http.MethodPut, base+"bad", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:`+strings.Repeat("b", 64)+`","size":2},"layers":[]}`),
			mustReq(http.MethodGet, "http://"+s.Addr()+"/v2/_catalog", ""),
		} {
			if resp, err := http.DefaultClient.Do(req); err != nil {
				problems = append(problems, err.Error())
			} else {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		if err := s.Close(); err != nil {
			problems = append(problems, "Close: "+err.Error())
		}
	}
	restore()
	w.Close()
	out, _ := io.ReadAll(r)
	r.Close()
	for _, p := range problems {
		t.Error(p)
	}
	if len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("the embedded registry wrote to the terminal:\n%s", out)
	}
}

func mustReq(method, url, body string) *http.Request {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	}
	return req
}
