package app

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/remote/hoststate"

	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// DevStatus is what runs on the dev target now.
type DevStatus struct {
	Target    string
	Container string
	Image     string
	ImageID   string
	State     string
	Running   bool
	StartedAt time.Time
	Version   string
	SHA       string
	// Health is the answer of the health path ("200 OK", "unreachable", …) or "" when none is set.
	Health string
}

// DevStatus reads the dev container's state with docker inspect on the dev target.
func (a *App) DevStatus(ctx context.Context) (DevStatus, error) {
	d := a.Cfg.Dev
	st := DevStatus{Target: d.Target, Container: d.Container}
	if d.Target == "ssh" {
		st.Target = fmt.Sprintf("%s@%s", d.User, d.Host)
	}
	host, err := a.Host(ctx, "dev")
	if err != nil {
		return st, err
	}
	res, err := host.Run(ctx, hostexec.Command(d.DockerCommand, "inspect", "--type", "container", d.Container), hostexec.RunOptions{})
	if err != nil {
		if strings.Contains(res.Stderr, "No such") || strings.Contains(res.Stdout, "[]") {
			st.State = "absent"
			return st, nil
		}
		return st, fmt.Errorf("inspect %s: %w", d.Container, err)
	}
	var info []struct {
		Image string
		State struct {
			Status    string
			Running   bool
			StartedAt time.Time
		}
		Config struct {
			Image  string
			Labels map[string]string
		}
	}
	if err := json.Unmarshal([]byte(res.Stdout), &info); err != nil || len(info) == 0 {
		return st, fmt.Errorf("inspect %s: unexpected output", d.Container)
	}
	c := info[0]
	st.Image, st.ImageID, st.State, st.Running, st.StartedAt = c.Config.Image, c.Image, c.State.Status, c.State.Running, c.State.StartedAt
	st.Version, st.SHA = c.Config.Labels["gantry.version"], c.Config.Labels["gantry.sha"]
	if d.HealthPath != "" && st.Running {
		hostPort, _, _ := strings.Cut(d.Ports, ":")
		url := "http://127.0.0.1:" + hostPort + d.HealthPath
		probe := hostexec.Or(
			hostexec.Command("curl", "-s", "-o", "/dev/null", "-m", "5", "-w", "%{http_code}", url),
			hostexec.Command("echo", "unreachable"),
		)
		if r, err := host.Run(ctx, probe, hostexec.RunOptions{}); err == nil {
			st.Health = strings.TrimSpace(r.Stdout)
			// curl prints 000 for "no answer" before failing over to the echo.
			if strings.HasPrefix(st.Health, "000") {
				st.Health = "unreachable"
			}
		}
	}
	return st, nil
}

// History reads the audit logs of the dev and prod hosts, newest first.
func (a *App) History(ctx context.Context, limit int) ([]hoststate.AuditEntry, error) {
	var all []hoststate.AuditEntry
	var errs []string
	envs := []string{"dev"}
	if a.Cfg.Prod.Host != "" {
		envs = append(envs, "prod")
	}
	seen := map[string]bool{}
	for _, env := range envs {
		h, err := a.Host(ctx, env)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		entries, err := hoststate.ReadAudit(ctx, h, limit)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", env, err))
			continue
		}
		for _, e := range entries {
			// Dev and prod may be one host sharing one log; keep each line once.
			k := e.When.String() + e.Env + e.Version + e.Result
			if !seen[k] {
				seen[k] = true
				all = append(all, e)
			}
		}
	}
	sortAudit(all)
	if len(errs) > 0 && len(all) == 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return all, nil
}

func sortAudit(e []hoststate.AuditEntry) {
	sort.SliceStable(e, func(i, j int) bool { return e[i].When.After(e[j].When) })
}
