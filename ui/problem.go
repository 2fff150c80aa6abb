package ui

import "errors"

// ProblemKind says what kind of failure an error is, so the console can suggest
// the fix. The backend decides it from the remote packages' typed errors; the
// console never guesses from an error's text.
type ProblemKind int

// Problem kinds.
const (
	// ProblemOther is any failure without a specific fix: retry.
	ProblemOther ProblemKind = iota
	// ProblemCredentials: the registry (or AWS) refused or found no credentials.
	ProblemCredentials
	// ProblemHostKey: an SSH host key is unknown, changed or revoked.
	ProblemHostKey
	// ProblemUnreachable: a host could not be reached or the connection dropped.
	ProblemUnreachable
	// ProblemGitHub: GitHub refused the token or rate-limited it.
	ProblemGitHub
)

// Problem is an error the backend classified. It reads and unwraps as Err.
type Problem struct {
	Kind ProblemKind
	Err  error
}

func (p *Problem) Error() string { return p.Err.Error() }

// Unwrap returns the classified error.
func (p *Problem) Unwrap() error { return p.Err }

// KindOf is the kind of the Problem in err's chain, ProblemOther when none.
func KindOf(err error) ProblemKind {
	var p *Problem
	if errors.As(err, &p) {
		return p.Kind
	}
	return ProblemOther
}
