package ui

import (
	"context"
	"log"
	"strings"
	"time"
)

// programContext is the state every screen shares, owned by the root model
// (gh-dash's ProgramContext): sizes, styles, keys, backend, clock, and the
// environment state that several screens draw from.
type programContext struct {
	width, height int // whole terminal
	styles        *Styles
	keys          *KeyMap
	backend       Backend
	project       ProjectInfo
	now           func() time.Time
	base          context.Context
	log           *log.Logger

	// Deadlines for backend calls.
	loadTimeout, snapshotsTimeout time.Duration
	// timers is false in tests that step the model by hand: no ticks (spinner,
	// status expiry) are scheduled, so every Cmd returns promptly.
	timers bool

	dev  envState[DevEnv]
	prod envState[ProdEnv]
	// devRef and prodRef identify the images the environments run, for badges.
	devRef, prodRef imageRef
	// subjects maps a short SHA to its commit subject, from the commits listing.
	subjects map[string]string
}

// envState is the loading state of one environment.
type envState[T any] struct {
	loading bool
	loaded  bool
	val     T
	at      time.Time
}

func (c *programContext) logf(format string, args ...any) {
	if c.log != nil {
		c.log.Printf(format, args...)
	}
}

// imageRef is an image reference split into what a snapshot can match on.
type imageRef struct {
	tag, digest string
}

// parseImageRef splits "repo:tag", "repo@sha256:…" or "repo:tag@sha256:…" to
// highlight the running snapshot. Display only (ui imports only pipeline, not image).
func parseImageRef(image string) imageRef {
	var r imageRef
	if image == "" {
		return r
	}
	if i := strings.Index(image, "@"); i >= 0 {
		r.digest = image[i+1:]
		image = image[:i]
	} else if strings.HasPrefix(image, "sha256:") {
		return imageRef{digest: image}
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		r.tag = image[i+1:]
	}
	return r
}

// matches reports whether the snapshot is the image the reference names.
func (r imageRef) matches(s *Snapshot) bool {
	if r.digest != "" && r.digest == s.Digest {
		return true
	}
	if r.tag == "" {
		return false
	}
	if r.tag == s.Tag {
		return true
	}
	for _, t := range s.Tags {
		if t == r.tag {
			return true
		}
	}
	return false
}

// listNav is a windowed cursor over n rows of which height are visible. Views
// render only rows [offset, offset+height), so their cost does not grow with n.
type listNav struct {
	cursor, offset, height, n int
}

func (l *listNav) setLen(n int) {
	l.n = n
	l.clamp()
}

func (l *listNav) setHeight(h int) {
	l.height = max(h, 1)
	l.clamp()
}

func (l *listNav) move(delta int) {
	l.cursor += delta
	l.clamp()
}

func (l *listNav) top()    { l.cursor = 0; l.clamp() }
func (l *listNav) bottom() { l.cursor = l.n - 1; l.clamp() }

func (l *listNav) set(i int) {
	l.cursor = i
	l.clamp()
}

func (l *listNav) clamp() {
	if l.height < 1 {
		l.height = 1
	}
	if l.cursor >= l.n {
		l.cursor = l.n - 1
	}
	if l.cursor < 0 {
		l.cursor = 0
	}
	if l.cursor < l.offset {
		l.offset = l.cursor
	}
	if l.cursor >= l.offset+l.height {
		l.offset = l.cursor - l.height + 1
	}
	if maxOff := max(l.n-l.height, 0); l.offset > maxOff {
		l.offset = maxOff
	}
	if l.offset < 0 {
		l.offset = 0
	}
}

// visible returns the half-open range of rows on screen.
func (l *listNav) visible() (from, to int) {
	return l.offset, min(l.offset+l.height, l.n)
}

// handleNavKey applies a movement key; it reports whether the key was one.
func handleNavKey(k *KeyMap, l *listNav, msg keyMsg) bool {
	switch {
	case matches(msg, k.Up):
		l.move(-1)
	case matches(msg, k.Down):
		l.move(1)
	case matches(msg, k.Top):
		l.top()
	case matches(msg, k.Bottom):
		l.bottom()
	case matches(msg, k.HalfDown):
		l.move(max(l.height/2, 1))
	case matches(msg, k.HalfUp):
		l.move(-max(l.height/2, 1))
	case matches(msg, k.PageDown):
		l.move(l.height)
	case matches(msg, k.PageUp):
		l.move(-l.height)
	default:
		return false
	}
	return true
}

// filterTerms splits a filter query into lower-case terms that must all match.
func filterTerms(q string) []string {
	return strings.Fields(strings.ToLower(q))
}

// matchTerms reports whether every term is a substring of key (already lower-case).
func matchTerms(key string, terms []string) bool {
	for _, t := range terms {
		if !strings.Contains(key, t) {
			return false
		}
	}
	return true
}
