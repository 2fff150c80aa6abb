package ui

import (
	"os"
	"os/exec"
	"runtime"
	"strings"

	tea "charm.land/bubbletea/v2"
)

// copyCmd puts text on the clipboard with OSC 52 (it works over SSH and tmux)
// and says so in the status line.
func copyCmd(what, text string) tea.Cmd {
	if text == "" {
		return statusCmd("nothing to copy: this row has no "+what, false)
	}
	return tea.Sequence(tea.SetClipboard(text), statusCmd("copied "+what+": "+text, false)) // the status says it once it is sent
}

// copyable is a screen whose selected row has something to copy: c copies the
// first item, C the second.
type copyable interface {
	copyTargets() (first, second copyItem)
}

// opener picks what o opens.
type opener interface {
	// openTarget returns the selected row's web page ("" when it has none) and what it is.
	openTarget(u URLOpener) (url, what string)
}

// browserOpen is how a URL is opened; tests replace it. It reports false when
// there is no display or browser to open it with.
var browserOpen = func(url string) bool {
	var name string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		return exec.Command("rundll32", "url.dll,FileProtocolHandler", url).Start() == nil
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return false // over SSH: the user copies it from the status line
		}
		name = "xdg-open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return false
	}
	cmd := exec.Command(path, url)
	if err := cmd.Start(); err != nil {
		return false
	}
	go func() { _ = cmd.Wait() }()
	return true
}

// openCmd opens url in the browser, or shows it (and copies it) when it cannot.
func openCmd(what, url string) tea.Cmd {
	if url == "" {
		return statusCmd("no web page for "+what+" (github.repo or dev.ports not set?)", false)
	}
	return func() tea.Msg {
		if browserOpen(url) {
			return statusMsg{text: "opened " + what + ": " + url}
		}
		return openFallbackMsg{what: what, url: url}
	}
}

// openFallbackMsg shows a URL that could not be opened, and copies it.
type openFallbackMsg struct{ what, url string }

// copyItem is one thing a row can put on the clipboard.
type copyItem struct{ what, text string }

// copyTargets: c copies the first item, C the second (the digest where there is one).
func (s *snapshotsScreen) copyTargets() (copyItem, copyItem) {
	r := s.selected()
	if r == nil {
		return copyItem{what: "tag"}, copyItem{what: "digest"}
	}
	return copyItem{"image " + r.Tag, imageName(s.ctx.project.Registry, r.Tag)}, copyItem{"digest", r.Digest}
}

func (s *commitsScreen) copyTargets() (copyItem, copyItem) {
	c := s.selected()
	if c == nil {
		return copyItem{what: "commit"}, copyItem{what: "snapshot tag"}
	}
	return copyItem{"commit", c.SHA}, copyItem{"snapshot tag", s.snapshotTag(*c)}
}

func (s *envsScreen) copyTargets() (copyItem, copyItem) {
	img := s.ctx.dev.val.Image
	if s.selectedEnv() == "prod" {
		img = s.ctx.prod.val.Image
	}
	return copyItem{s.selectedEnv() + " image", img}, copyItem{"digest", parseImageRef(img).digest}
}

func (s *historyScreen) copyTargets() (copyItem, copyItem) {
	e := s.selected()
	if e == nil {
		return copyItem{what: "version"}, copyItem{what: "commit"}
	}
	return copyItem{"version", e.Version}, copyItem{"commit", e.SHA}
}

// imageName is repo:tag, or just the tag when the repository is not a real address.
func imageName(repo, tag string) string {
	if repo == "" || strings.HasPrefix(repo, "embedded/") || tag == "" {
		return tag
	}
	return repo + ":" + tag
}

func (s *snapshotsScreen) openTarget(u URLOpener) (string, string) {
	r := s.selected()
	switch {
	case r == nil:
		return "", "page"
	case r.release != "":
		return u.ReleaseURL(r.release), "release " + r.release
	case r.ShortSHA != "":
		return u.CommitURL(r.ShortSHA), "commit " + r.ShortSHA
	}
	return "", "page"
}

func (s *commitsScreen) openTarget(u URLOpener) (string, string) {
	c := s.selected()
	switch {
	case c == nil:
		return "", "commit"
	case c.Released != "":
		return u.ReleaseURL(c.Released), "release " + c.Released
	}
	return u.CommitURL(c.SHA), "commit " + shortHex(c.SHA)
}

func (s *envsScreen) openTarget(u URLOpener) (string, string) {
	if s.selectedEnv() == "dev" {
		return u.DevURL(), "dev app"
	}
	if t := parseImageRef(s.ctx.prod.val.Image).tag; strings.HasPrefix(t, "v") {
		return u.ReleaseURL(t), "release " + t
	}
	return "", "release"
}

func (s *historyScreen) openTarget(u URLOpener) (string, string) {
	e := s.selected()
	if e == nil || e.SHA == "" {
		return "", "commit"
	}
	return u.CommitURL(e.SHA), "commit " + shortHex(e.SHA)
}

func shortHex(s string) string { return s[:min(7, len(s))] }
