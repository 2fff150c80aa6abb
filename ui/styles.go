package ui

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
)

// Styles holds every style the UI uses, by meaning rather than by colour, so a
// screen never picks a colour itself. Build it with NewStyles.
type Styles struct {
	Dark bool

	App       lipgloss.Style // app name in the header
	Title     lipgloss.Style // section titles
	Text      lipgloss.Style // ordinary text
	Muted     lipgloss.Style // secondary text: ages, digests, hints
	Key       lipgloss.Style // a key name in prose ("press r")
	Success   lipgloss.Style
	Failure   lipgloss.Style
	Warning   lipgloss.Style
	Running   lipgloss.Style
	Selected  lipgloss.Style // the cursor row
	ColHeader lipgloss.Style // table column headers
	Group     lipgloss.Style // group header rows (snapshots by version)

	TabActive   lipgloss.Style
	TabInactive lipgloss.Style

	BadgeDev     lipgloss.Style
	BadgeProd    lipgloss.Style
	BadgeRelease lipgloss.Style

	Status      lipgloss.Style // footer status message
	StatusError lipgloss.Style
	Prompt      lipgloss.Style // a question waiting for y/n

	Filter lipgloss.Style // the filter line

	SpinnerColor  color.Color
	ProgressFull  color.Color
	ProgressEmpty color.Color

	Help help.Styles
}

// NewStyles builds the styles for a dark or light terminal background.
func NewStyles(dark bool) *Styles {
	ld := lipgloss.LightDark(dark)
	c := lipgloss.Color

	fg := ld(c("#1f2328"), c("#e6edf3"))
	muted := ld(c("#6e7781"), c("#8b949e"))
	accent := ld(c("#8250df"), c("#bc8cff"))
	green := ld(c("#1a7f37"), c("#3fb950"))
	red := ld(c("#cf222e"), c("#f85149"))
	yellow := ld(c("#9a6700"), c("#d29922"))
	blue := ld(c("#0969da"), c("#58a6ff"))
	selBg := ld(c("#ddf4ff"), c("#1f3a5f"))
	badgeFg := ld(c("#ffffff"), c("#0d1117"))

	s := &Styles{Dark: dark}
	s.App = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Title = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Text = lipgloss.NewStyle().Foreground(fg)
	s.Muted = lipgloss.NewStyle().Foreground(muted)
	s.Key = lipgloss.NewStyle().Bold(true).Foreground(blue)
	s.Success = lipgloss.NewStyle().Foreground(green)
	s.Failure = lipgloss.NewStyle().Foreground(red)
	s.Warning = lipgloss.NewStyle().Foreground(yellow)
	s.Running = lipgloss.NewStyle().Foreground(blue)
	s.Selected = lipgloss.NewStyle().Background(selBg).Foreground(fg).Bold(true)
	s.ColHeader = lipgloss.NewStyle().Bold(true).Foreground(muted)
	s.Group = lipgloss.NewStyle().Bold(true).Foreground(accent)

	s.TabActive = lipgloss.NewStyle().Bold(true).Foreground(badgeFg).Background(accent)
	s.TabInactive = lipgloss.NewStyle().Foreground(muted)

	s.BadgeDev = lipgloss.NewStyle().Bold(true).Foreground(badgeFg).Background(yellow)
	s.BadgeProd = lipgloss.NewStyle().Bold(true).Foreground(badgeFg).Background(green)
	s.BadgeRelease = lipgloss.NewStyle().Bold(true).Foreground(badgeFg).Background(accent)

	s.Status = lipgloss.NewStyle().Foreground(fg)
	s.StatusError = lipgloss.NewStyle().Bold(true).Foreground(red)
	s.Prompt = lipgloss.NewStyle().Bold(true).Foreground(yellow)
	s.Filter = lipgloss.NewStyle().Foreground(blue)

	s.SpinnerColor = blue
	s.ProgressFull = green
	s.ProgressEmpty = muted

	s.Help = help.DefaultStyles(dark)
	s.Help.ShortKey = s.Help.ShortKey.Foreground(blue)
	s.Help.FullKey = s.Help.FullKey.Foreground(blue)
	return s
}
