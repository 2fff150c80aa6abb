package hostexec

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

func runShell(t *testing.T, shell string, c Cmd) (stdout, stderr string, err error) {
	t.Helper()
	if e := c.Err(); e != nil {
		t.Fatalf("command has error: %v", e)
	}
	return testbed.RunShell(t, shell, c.String())
}

func TestCommandValuesArriveIntact(t *testing.T) {
	for _, shell := range testbed.Shells(t) {
		for _, v := range testbed.HostileValues {
			cases := map[string]Cmd{
				"word":        Command("printf", "%s", v),
				"and":         And(Command("true"), Command("printf", "%s", v)),
				"or":          Or(Command("false"), Command("printf", "%s", v)),
				"seq":         Seq(Command("true"), Command("printf", "%s", v)),
				"pipe":        Pipe(Command("printf", "%s", v), Command("cat")),
				"group":       Group(Command("printf", "%s", v)),
				"env":         Command("sh", "-c", `printf %s "$V"`).Env("V", v),
				"env-group":   Group(Command("sh", "-c", `printf %s "$V"`)).Env("V", v),
				"silence-mix": Seq(Command("echo", v).Silence(), Command("printf", "%s", v)),
			}
			for name, c := range cases {
				got, stderr, err := runShell(t, shell, c)
				if err != nil || got != v {
					t.Errorf("%s %s(%q): rendered %s\n got %q (err %v, stderr %q)", shell, name, v, c, got, err, stderr)
				}
			}
		}
	}
}

func TestCommandArgumentCountIsPreserved(t *testing.T) {
	for _, shell := range testbed.Shells(t) {
		c := Command("sh", "-c", `printf '%s\n' "$#"`, "sh", "a b", "", "$(id)", "*", "x\ny")
		got, _, err := runShell(t, shell, c)
		if err != nil || got != "5\n" {
			t.Errorf("%s: %s: got %q, %v; want 5 arguments", shell, c, got, err)
		}
	}
}

func TestHostileCommandNameRunsNothing(t *testing.T) {
	for _, shell := range testbed.Shells(t) {
		dir := t.TempDir()
		canary := filepath.Join(dir, "canary")
		for _, name := range []string{
			"touch " + canary,
			"true;touch " + canary,
			"$(touch " + canary + ")",
			"`touch " + canary + "`",
			"X=1",
			"if",
			"{",
			"!",
		} {
			c := Command(name)
			_, stderr, err := runShell(t, shell, c)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 127 {
				t.Errorf("%s: %s: want exit 127 (command not found), got %v, stderr %q", shell, c, err, stderr)
			}
			if _, err := os.Stat(canary); err == nil {
				t.Fatalf("%s: %s created the canary file: the value was executed", shell, c)
			}
		}
	}
}

func TestCommandRendering(t *testing.T) {
	a, b, c := Command("a"), Command("b", "x y"), Command("c")
	tests := []struct {
		cmd  Cmd
		want string
	}{
		{Command("docker", "pull", "repo:1.0;rm -rf /"), `docker pull 'repo:1.0;rm -rf /'`},
		{Command("X=1", "y"), `'X=1' y`},
		{Command("echo", "X=1"), `echo X=1`},
		{And(a, b, c), `a && b 'x y' && c`},
		{Or(a, b), `a || b 'x y'`},
		{Seq(a, b), `a; b 'x y'`},
		{Pipe(a, b, c), `a | b 'x y' | c`},
		{Group(a, b), `{ a; b 'x y'; }`},
		{And(Or(a, b), c), `a || b 'x y' && c`},
		{And(a, Or(b, c)), `a && { b 'x y' || c; }`},
		{And(a, Seq(b, c)), `a && { b 'x y'; c; }`},
		{Pipe(And(a, b), c), `{ a && b 'x y'; } | c`},
		{And(Pipe(a, b), c), `a | b 'x y' && c`},
		{Seq(And(a, b), c), `a && b 'x y'; c`},
		{a.Env("K", "v 1"), `K='v 1' a`},
		{a.Env("K", "").Env("J", "$x"), `J='$x' K='' a`},
		{And(a, b).Env("K", "v"), `(export K=v && { a && b 'x y'; })`},
		{a.Silence(), `a >/dev/null 2>&1`},
		{a.Stdout2Null(), `a >/dev/null`},
		{And(a, b).Silence(), `{ a && b 'x y'; } >/dev/null 2>&1`},
		{Or(a.Silence(), c), `a >/dev/null 2>&1 || c`},
		{Group(a).Silence(), `{ a; } >/dev/null 2>&1`},
		{And(a, Raw("cd /tmp")), `a && { cd /tmp; }`},
		{And(a), `a`},
	}
	for _, tt := range tests {
		if err := tt.cmd.Err(); err != nil {
			t.Errorf("%q: unexpected error %v", tt.want, err)
		}
		if got := tt.cmd.String(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

// The combinators must keep each operand's meaning, not just its text.
func TestCombinatorSemantics(t *testing.T) {
	echo := func(s string) Cmd { return Command("printf", "%s", s) }
	tests := []struct {
		name string
		cmd  Cmd
		want string
	}{
		{"and stops at failure", And(Command("false"), Or(Command("false"), echo("X"))), ""},
		{"or group runs after success", And(Command("true"), Or(Command("false"), echo("X"))), "X"},
		{"pipe carries a whole list", Pipe(And(echo("a"), echo("b")), Command("tr", "ab", "AB")), "AB"},
		{"silence covers the whole list", Seq(And(echo("a"), echo("b")).Silence(), echo("c")), "c"},
		{"stdout2null keeps stderr", Command("sh", "-c", "echo out; echo err >&2").Stdout2Null(), ""},
		{"env does not leak", Seq(
			And(Command("true"), Command("sh", "-c", `printf %s "$V"`)).Env("V", "in"),
			Command("sh", "-c", `printf %s "${V-unset}"`),
		), "inunset"},
		{"seq ignores failure", Seq(Command("false"), echo("after")), "after"},
	}
	for _, shell := range testbed.Shells(t) {
		for _, tt := range tests {
			got, _, _ := runShell(t, shell, tt.cmd)
			if got != tt.want {
				t.Errorf("%s: %s: %s printed %q, want %q", shell, tt.name, tt.cmd, got, tt.want)
			}
		}
	}
}

func TestCommandErrors(t *testing.T) {
	bad := Command("x").Env("1BAD", "v")
	tests := map[string]Cmd{
		"zero value":       {},
		"no words":         Command(),
		"empty raw":        Raw("  "),
		"bad env name":     bad,
		"env name with =":  Command("x").Env("A=B", "v"),
		"env injection":    Command("x").Env("A;rm", "v"),
		"no operands":      And(),
		"error propagates": Pipe(Command("a"), And(Command("b"), bad)),
		"after silence":    bad.Silence(),
		"group of nothing": Group(),
	}
	for name, c := range tests {
		if c.Err() == nil {
			t.Errorf("%s: want an error, got command %q", name, c)
		}
	}
	if !errors.Is(Command().Err(), ErrEmptyCommand) {
		t.Errorf("Command(): %v, want ErrEmptyCommand", Command().Err())
	}
	if err := bad.Err(); !strings.Contains(err.Error(), "1BAD") {
		t.Errorf("env error %q does not name the variable", err)
	}
}
