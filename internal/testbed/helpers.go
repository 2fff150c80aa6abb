package testbed

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Suffix returns 8 random hex digits, keeping names apart between tests that share a peer.
func Suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Get returns the body of GET url; a non-2xx answer is an error with the body.
func Get(url string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// Git runs git in dir as the author and committer Ada, and returns its trimmed output;
// a failure fails the test with git's own message.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// HostileValues are inputs that would run commands, split words or break
// quoting if they reached a shell unquoted.
var HostileValues = []string{
	"1.0;rm -rf /",
	"$(id)",
	"`id`",
	"${HOME}",
	"$HOME",
	"'",
	`"`,
	`'"'"'`,
	`it's "quoted"`,
	"a\nb",
	"line1\nrm -rf /\n",
	"\r\n",
	"tab\there",
	"",
	" ",
	"  leading and trailing  ",
	"*",
	"?",
	"[a-z]",
	"~",
	"~root",
	"a|b",
	"a&&b",
	"a&",
	"a>b",
	"<x",
	"#comment",
	"{a,b}",
	"!",
	"!!",
	"\\",
	"\\n",
	"-n",
	"--help",
	"A=b",
	"=",
	"%s%s",
	"héllo wörld",
	"\xff\xfe invalid utf-8",
	"\x1b[31mred\x1b[0m",
	"😀",
}

// Shells returns the POSIX shells on PATH to check command rendering against: sh is
// what localhost uses, bash a common remote login shell. It skips when there is none.
func Shells(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, s := range []string{"sh", "bash", "dash"} {
		if p, err := exec.LookPath(s); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Skip("no POSIX shell on PATH")
	}
	return out
}

// RunShell runs script with shell -c in a fresh temp folder.
func RunShell(t testing.TB, shell, script string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(shell, "-c", script)
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Dir = t.TempDir()
	err = cmd.Run()
	return o.String(), e.String(), err
}
