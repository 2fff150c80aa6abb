package hostexec

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"al.essio.dev/pkg/shellescape"
)

// kind records a rendered command's place in the POSIX shell grammar so the
// combinators know when an operand must be grouped to keep its meaning.
type kind uint8

const (
	kindSimple kind = iota // one simple command, maybe with redirections
	kindGroup              // { ...; } or ( ... ), maybe with redirections
	kindPipe               // a | b
	kindAndOr              // a && b, a || b
	kindList               // a; b, and Raw text of unknown shape
)

// Cmd is a shell command line built only from quoted words and a fixed set of
// operators, so no value passed to Command or Env can change its structure.
// The zero Cmd is empty and fails to run.
type Cmd struct {
	text string
	kind kind
	err  error
}

// ErrEmptyCommand is returned when running a Cmd that holds no command.
var ErrEmptyCommand = errors.New("empty command")

// Command returns the simple command whose words are words, each quoted with
// shellescape so it reaches the program as exactly one argument.
func Command(words ...string) Cmd {
	if len(words) == 0 {
		return Cmd{err: ErrEmptyCommand}
	}
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellescape.Quote(w)
	}
	q[0] = quoteCommandName(words[0], q[0])
	return Cmd{text: strings.Join(q, " "), kind: kindSimple}
}

// reservedWords are recognised by POSIX shells and bash only when unquoted in
// command position.
var reservedWords = map[string]bool{
	"!": true, "{": true, "}": true, "case": true, "do": true, "done": true,
	"elif": true, "else": true, "esac": true, "fi": true, "for": true,
	"if": true, "in": true, "then": true, "until": true, "while": true,
	"[[": true, "]]": true, "function": true, "select": true, "time": true,
	"coproc": true,
}

// quoteCommandName hardens the first word: shellescape leaves "A=b" and "if"
// bare, which a shell would read as an assignment or a keyword there.
func quoteCommandName(word, quoted string) string {
	if quoted == word && (strings.Contains(word, "=") || reservedWords[word]) {
		return "'" + word + "'"
	}
	return quoted
}

// Raw returns trusted shell text as a command. It exists only for fixed
// literals written in gantry's own source (such as a redirection or a
// construct the combinators lack); never pass configuration, user input,
// versions, tags or any other value to it — use Command and Env for those.
// The text must be a complete command list, without comments or a trailing &.
func Raw(trusted string) Cmd {
	if strings.TrimSpace(trusted) == "" {
		return Cmd{err: ErrEmptyCommand}
	}
	return Cmd{text: trusted, kind: kindList}
}

// And joins cmds with &&: each runs only if all before it succeeded.
func And(cmds ...Cmd) Cmd { return andOr("And", " && ", cmds) }

// Or joins cmds with ||: each runs only if all before it failed.
func Or(cmds ...Cmd) Cmd { return andOr("Or", " || ", cmds) }

func andOr(name, op string, cmds []Cmd) Cmd {
	if c, ok := trivial(name, cmds); ok {
		return c
	}
	parts := make([]string, len(cmds))
	for i, c := range cmds {
		switch {
		case c.kind == kindList, c.kind == kindAndOr && i > 0:
			// && and || share one precedence and associate left, so only the
			// leftmost and-or list may stay bare.
			parts[i] = c.braced()
		default:
			parts[i] = c.text
		}
	}
	return Cmd{text: strings.Join(parts, op), kind: kindAndOr}
}

// Seq joins cmds with ;: each runs after the one before, whatever its status.
// The exit status is that of the last command.
func Seq(cmds ...Cmd) Cmd {
	if c, ok := trivial("Seq", cmds); ok {
		return c
	}
	parts := make([]string, len(cmds))
	for i, c := range cmds {
		parts[i] = c.text
	}
	return Cmd{text: strings.Join(parts, "; "), kind: kindList}
}

// Pipe connects each command's stdout to the next one's stdin. The exit status
// is that of the last command.
func Pipe(cmds ...Cmd) Cmd {
	if c, ok := trivial("Pipe", cmds); ok {
		return c
	}
	parts := make([]string, len(cmds))
	for i, c := range cmds {
		switch c.kind {
		case kindAndOr, kindList:
			parts[i] = c.braced()
		default:
			parts[i] = c.text
		}
	}
	return Cmd{text: strings.Join(parts, " | "), kind: kindPipe}
}

// Group runs cmds in sequence as one command, { a; b; }, so a redirection or
// an operator applies to all of them.
func Group(cmds ...Cmd) Cmd {
	s := Seq(cmds...)
	if s.err != nil {
		return s
	}
	return Cmd{text: s.braced(), kind: kindGroup}
}

// trivial handles the cases every combinator shares: an error in any operand,
// no operands, and a single operand.
func trivial(name string, cmds []Cmd) (Cmd, bool) {
	if len(cmds) == 0 {
		return Cmd{err: fmt.Errorf("%s: %w", name, ErrEmptyCommand)}, true
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return Cmd{err: err}, true
		}
	}
	if len(cmds) == 1 {
		return cmds[0], true
	}
	return Cmd{}, false
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Env sets the environment variable name to value (quoted) for c only.
// An invalid name makes the command fail to run. The value is part of the
// command line, visible in process lists and errors: pass secrets through
// RunOptions.Stdin instead.
func (c Cmd) Env(name, value string) Cmd {
	if c.Err() != nil {
		return c
	}
	if !envName.MatchString(name) {
		return Cmd{err: fmt.Errorf("invalid environment variable name %q", name)}
	}
	assign := name + "=" + shellescape.Quote(value)
	if c.kind == kindSimple {
		return Cmd{text: assign + " " + c.text, kind: kindSimple}
	}
	// A prefix assignment only applies to simple commands; a subshell keeps
	// the variable from leaking into commands that follow.
	return Cmd{text: "(export " + assign + " && " + c.braced() + ")", kind: kindGroup}
}

// Stdout2Null discards c's standard output (>/dev/null).
func (c Cmd) Stdout2Null() Cmd { return c.redirect(" >/dev/null") }

// Silence discards c's standard output and standard error (>/dev/null 2>&1).
func (c Cmd) Silence() Cmd { return c.redirect(" >/dev/null 2>&1") }

func (c Cmd) redirect(r string) Cmd {
	if c.Err() != nil {
		return c
	}
	switch c.kind {
	case kindSimple, kindGroup:
		return Cmd{text: c.text + r, kind: c.kind}
	default:
		return Cmd{text: c.braced() + r, kind: kindGroup}
	}
}

func (c Cmd) braced() string {
	if c.kind == kindGroup && strings.HasPrefix(c.text, "{ ") && strings.HasSuffix(c.text, "; }") {
		return c.text
	}
	return "{ " + c.text + "; }"
}

// String renders the command line as the remote shell will read it.
func (c Cmd) String() string { return c.text }

// Err reports why c cannot run: it was built from no words, an invalid
// environment variable name, or an operand that had an error.
func (c Cmd) Err() error {
	if c.err != nil {
		return c.err
	}
	if c.text == "" {
		return ErrEmptyCommand
	}
	return nil
}
