package ui

import (
	"errors"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// envsScreen shows what runs on dev and prod. The data lives in the shared
// context because the Snapshots badges use it too.
type envsScreen struct {
	ctx    *programContext
	cursor int  // 0 dev, 1 prod: the target of `b`
	detail bool // the selected environment shows every field
	w, h   int
}

func newEnvsScreen(ctx *programContext) *envsScreen { return &envsScreen{ctx: ctx} }

func (s *envsScreen) Title() string       { return "Environments" }
func (s *envsScreen) Capturing() bool     { return false }
func (s *envsScreen) SetSize(w, h int)    { s.w, s.h = w, h }
func (s *envsScreen) selectedEnv() string { return [...]string{"dev", "prod"}[s.cursor] }
func (s *envsScreen) ShortHelp() []key.Binding {
	k := s.ctx.keys
	sel := k.Down
	sel.SetHelp("j/k", "select env")
	return []key.Binding{sel, k.Enter, k.Rollback, k.Refresh, k.Deploy}
}

func (s *envsScreen) Update(msg tea.Msg) (screen, tea.Cmd) {
	if msg, ok := msg.(keyMsg); ok {
		k := s.ctx.keys
		switch {
		case matches(msg, k.Up, k.Top):
			s.cursor = 0
		case matches(msg, k.Down, k.Bottom):
			s.cursor = 1
		case matches(msg, k.Enter):
			s.detail = !s.detail
		case matches(msg, k.Back):
			s.detail = false
		}
	}
	return s, nil
}

func (s *envsScreen) View() string {
	st := s.ctx.styles
	now := s.ctx.now()
	w := s.w
	var lines []string
	hint := "  refreshed every 30s and on r"
	if s.detail {
		hint = "  details of " + s.selectedEnv() + " · esc closes"
	}
	lines = append(lines, st.Title.Render("Environments")+st.Muted.Render(hint))
	lines = append(lines, "")
	devStart := len(lines)

	heading := func(idx int, badge, name string, loading bool, at string) string {
		marker := "  "
		if idx == s.cursor {
			marker = "› "
		}
		left := marker + badge + " " + st.Text.Render(name)
		right := ""
		if loading {
			right = st.Running.Render("loading…")
		} else if at != "" {
			right = st.Muted.Render(at)
		}
		return spread(left, right, w)
	}
	field := func(name, val string) string {
		return st.Muted.Render(fmt.Sprintf("    %-11s", name)) + val
	}
	updated := func(loaded bool, rel string) string {
		if !loaded {
			return ""
		}
		return "updated " + rel
	}

	// Dev.
	d := s.ctx.dev
	lines = append(lines, heading(0, st.BadgeDev.Render(" DEV "), orDash(d.val.Target), d.loading,
		updated(d.loaded, relTime(now, d.at))))
	switch {
	case !d.loaded:
		lines = append(lines, st.Muted.Render("    reading the dev host …"))
	case d.val.Err != nil:
		lines = append(lines, indent(errorBlock(st, d.val.Err, "dev host", w-2), "  ")...)
	default:
		v := d.val
		state := v.State
		if state == "" {
			state = "unknown"
		}
		if v.Running {
			state = st.Success.Render("● " + state)
		} else {
			state = st.Failure.Render("○ " + state)
		}
		health := v.Health
		switch {
		case !v.Running:
			health = "-"
		case health == "healthy" || strings.HasPrefix(health, "healthy "):
			health = st.Success.Render(health)
		case health == "":
			health = st.Muted.Render("no healthcheck")
		default:
			health = st.Warning.Render(health)
		}
		up := "-"
		if v.Running && !v.StartedAt.IsZero() {
			up = uptime(now.Sub(v.StartedAt)) + st.Muted.Render("  since "+v.StartedAt.Local().Format("2006-01-02 15:04"))
		}
		repo, ref := splitImage(v.Image)
		lines = append(lines,
			field("container", orDash(v.Container)+"  "+state),
			field("image", orDash(ref)),
			field("repository", st.Muted.Render(orDash(repo))),
			field("uptime", up),
			field("health", health),
		)
		if v.Traffic != "" {
			lines = append(lines, field("traffic", v.Traffic))
		}
		if v.GitHub != "" {
			lines = append(lines, field("github", v.GitHub))
		}
		if s.detail && s.cursor == 0 {
			lines = append(lines,
				field("reference", orDash(v.Image)),
				field("image id", orDash(shortDigest(v.ImageID))),
				field("ports", orDash(v.Ports)),
			)
		}
	}
	devEnd := len(lines)
	lines = append(lines, "")

	// Prod.
	p := s.ctx.prod
	lines = append(lines, heading(1, st.BadgeProd.Render(" PROD "), "deployment "+orDash(p.val.Deployment), p.loading,
		updated(p.loaded, relTime(now, p.at))))
	switch {
	case !p.loaded:
		lines = append(lines, st.Muted.Render("    reading the prod deployment …"))
	case errors.Is(p.val.Err, ErrNotConfigured):
		// Not an outage: nothing to retry until the project sets prod up.
		for i, l := range wrap(p.val.Err.Error(), w-4, 3) {
			if i > 0 {
				l = "  " + l
			}
			lines = append(lines, st.Muted.Render("    "+l))
		}
	case p.val.Err != nil:
		lines = append(lines, indent(errorBlock(st, p.val.Err, "prod cluster", w-2), "  ")...)
	default:
		v := p.val
		ready := fmt.Sprintf("%d/%d", v.Ready, v.Desired)
		switch {
		case v.Desired > 0 && v.Ready >= v.Desired:
			ready = st.Success.Render("● " + ready + " ready")
		case v.Ready == 0:
			ready = st.Failure.Render("○ " + ready + " ready")
		default:
			ready = st.Warning.Render("◐ " + ready + " ready")
		}
		repo, ref := splitImage(v.Image)
		lines = append(lines,
			field("image", orDash(ref)),
			field("repository", st.Muted.Render(orDash(repo))),
			field("pods", ready),
			field("rollout", orDash(v.LastRollout)),
		)
		if v.GitHub != "" {
			lines = append(lines, field("github", v.GitHub))
		}
		if s.detail && s.cursor == 1 {
			lines = append(lines,
				field("reference", orDash(v.Image)),
				field("namespace", orDash(v.Namespace)),
				field("state", orDash(v.State)),
				field("revision", orDash(v.Revision)),
			)
		}
	}
	lines = append(lines, "")
	lines = append(lines, st.Muted.Render(fmt.Sprintf("  b rolls back %s to its previous image (asks first)", s.selectedEnv())))
	if over := len(lines) - s.h; over > 0 && s.cursor == 1 {
		// On a short terminal the selected prod keeps its fields: dev gives way
		// to its heading and a line saying so.
		cut := min(over+1, devEnd-devStart-1)
		if cut > 1 {
			rest := append([]string{st.Muted.Render("    … select dev (k) to see it")}, lines[devStart+1+cut:]...)
			lines = append(lines[:devStart+1], rest...)
		}
	}
	return frame(lines, w, s.h)
}

// splitImage splits "repo:tag" or "repo@digest" so the tag, the part that
// matters, is never the part a narrow terminal cuts off. Display only: ui may not
// import gantry's image package (it imports only pipeline); nothing is decided on it.
func splitImage(image string) (repo, ref string) {
	if i := strings.Index(image, "@"); i >= 0 {
		return image[:i], image[i+1:]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		return image[:i], image[i+1:]
	}
	return image, ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func indent(lines []string, pre string) []string {
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return lines
}
