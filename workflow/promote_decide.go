package workflow

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/bookshop-ops/gantry/remote/git"
	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/remote/kubectl"
)

// ReleaseState is what GitHub holds for the release tag.
type ReleaseState struct {
	// Found is true when a published release or a draft has the tag.
	Found bool
	ID    int64
	Draft bool
	// Commit is the commit the release names (its git tag, or a draft's target).
	Commit, URL string
	Prerelease  bool
	// Body is the release's notes (to mark a draft whose rollout failed).
	Body string
}

// ProdState is what prod runs now, read without changing anything.
type ProdState struct {
	// Exists is false when the deployment does not exist yet (the manifest creates it).
	Exists bool
	// Image is the container's image now; Version is read from its tag ("" when none).
	Image, Version, Revision string
	// RolledOut says the current template's pods are all ready and available.
	RolledOut bool
	// Stuck is a rollout an earlier run left in progress: the deployment's current
	// template (its newest ReplicaSet) is not available.
	Stuck bool
	// StuckImage is what the stuck revision runs; Good is the revision an undo goes back to.
	StuckImage   string
	Good         kubectl.ReplicaSetState
	HasGood      bool
	Desired      int
	ChangeCause  string
	Selector     string
	container    string
	Unreachable  error
	Unconfigured string
}

// Describe says in one line what prod runs now.
func (s ProdState) Describe() string {
	switch {
	case s.Unconfigured != "" || s.Unreachable != nil:
		return "unknown"
	case !s.Exists:
		return "nothing (the deployment does not exist yet)"
	}
	if s.Stuck {
		if s.HasGood {
			return fmt.Sprintf("%s at revision %d, with a stuck rollout of %s at revision %s", s.Good.Images[s.container], s.Good.Revision, s.StuckImage, orUnknown(s.Revision))
		}
		return fmt.Sprintf("a stuck rollout of %s at revision %s", s.StuckImage, orUnknown(s.Revision))
	}
	v := s.Image
	if s.Version != "" {
		v = s.Version + " (" + s.Image + ")"
	}
	return v + " at revision " + orUnknown(s.Revision)
}

// gates are the checks that may refuse a promotion, evaluated before its first side
// effect (in the release step's plan) and again where each one matters.
type gates struct {
	release ReleaseState
	// tagDigest is what vX.Y.Z names now ("" when absent).
	tagDigest string
	prod      ProdState
	// refuse holds, per step ("release", "promote", "rollout"), why it refuses.
	refuse map[string]string
}

// all lists every refusal, in step order.
func (g gates) all() []string {
	var out []string
	for _, s := range []string{"release", "promote", "rollout"} {
		if r := g.refuse[s]; r != "" {
			out = append(out, r)
		}
	}
	return out
}

// decideGates reads GitHub, the registry and prod, and decides which steps refuse. Plan
// and Run call it alike, so no check exists twice.
func decideGates(ctx context.Context, o PromoteOptions, p *Promotion) (gates, error) {
	g := gates{refuse: map[string]string{}}
	if p.Snapshot.Tag == "" {
		return g, errors.New("no snapshot: the find snapshot step did not plan")
	}
	gh, err := o.GitHub(ctx)
	if err != nil {
		return g, err
	}
	if g.release, err = findRelease(ctx, gh, p.ReleaseTag); err != nil {
		return g, err
	}
	if g.release.Found && !strings.EqualFold(g.release.Commit, p.ReleaseCommit) {
		g.refuse["release"] = (&ReleaseConflictError{Tag: p.ReleaseTag, Commit: g.release.Commit, Head: p.ReleaseCommit, URL: g.release.URL}).Error()
	}
	reg, err := o.Registry(ctx)
	if err != nil {
		return g, err
	}
	have, refusal, err := decideTag(ctx, reg, p)
	if err != nil {
		return g, err
	}
	g.tagDigest = have
	if refusal != "" {
		g.refuse["promote"] = refusal
	}
	g.prod = readProd(ctx, o)
	if r := prodRefusal(o, p, g.prod); r != "" {
		g.refuse["rollout"] = r
	}
	return g, nil
}

// findRelease reads the release (published or draft) of tag and the commit it names.
func findRelease(ctx context.Context, gh ReleaseAPI, tag string) (ReleaseState, error) {
	rel, err := gh.FindRelease(ctx, tag)
	if errors.Is(err, github.ErrNotFound) {
		return ReleaseState{}, nil
	}
	if err != nil {
		return ReleaseState{}, fmt.Errorf("look for release %s: %w", tag, err)
	}
	st := ReleaseState{Found: true, ID: rel.ID, Draft: rel.Draft, URL: rel.HTMLURL, Prerelease: rel.Prerelease, Body: rel.Body}
	if rel.Draft {
		// A draft's git tag does not exist yet: its target is the commit it will tag.
		st.Commit = strings.ToLower(rel.TargetCommitish)
		return st, nil
	}
	commit, cerr := gh.TagCommit(ctx, tag)
	if cerr != nil {
		if !fullSHARe.MatchString(rel.TargetCommitish) {
			return st, fmt.Errorf("release %s exists; cannot tell which commit it names: %w", tag, cerr)
		}
		commit = rel.TargetCommitish
	}
	st.Commit = strings.ToLower(commit)
	return st, nil
}

// readProd reads what prod runs now; problems are recorded, not returned, so the plan
// can refuse with the fix.
func readProd(ctx context.Context, o PromoteOptions) ProdState {
	var st ProdState
	if o.Prod.Deployment == "" || o.Prod.Container == "" || o.Host == nil {
		st.Unconfigured = "prod is not configured (prod.deployment or prod.container unset): set the [prod] section in gantry.toml (host, deployment, container, manifest)"
		return st
	}
	host, err := o.Host(ctx)
	if err != nil {
		st.Unreachable = err
		return st
	}
	k := kubectl.Client{Host: host, Command: o.Prod.Kubectl, Namespace: o.Prod.Namespace}
	st, err = prodStateOf(ctx, k, o.Prod)
	if err != nil {
		st.Unreachable = err
	}
	return st
}

// prodStateOf reads the deployment and its ReplicaSets.
func prodStateOf(ctx context.Context, k kubectl.Client, t ProdTarget) (ProdState, error) {
	var st ProdState
	d, err := k.Deployment(ctx, t.Deployment)
	if errors.Is(err, kubectl.ErrDeploymentNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.Exists, st.container = true, t.Container
	st.Image = d.Images[t.Container]
	st.Version = ImageVersion(st.Image)
	st.Revision, st.Desired, st.ChangeCause, st.Selector = d.Revision, d.Desired, d.ChangeCause, d.Selector
	st.RolledOut = d.ObservedGeneration >= d.Generation && d.Updated == d.Desired && d.Ready == d.Desired && d.Available == d.Desired && d.Unavailable == 0
	rss, err := k.ReplicaSets(ctx, t.Deployment, d.Selector)
	if err != nil {
		return st, err
	}
	// The deployment's current template is the ReplicaSet of its revision (the one
	// whose pod-template-hash its new pods carry); a re-run finds it by that, not by
	// which pods existed before.
	for _, rs := range rss {
		if strconv.Itoa(rs.Revision) == d.Revision && !st.RolledOut && rs.Ready < d.Desired {
			st.Stuck, st.StuckImage = true, rs.Images[t.Container]
		}
	}
	if st.Stuck {
		st.Good, st.HasGood = lastGood(rss, d, t.Container)
		if st.HasGood {
			st.Version = ImageVersion(st.Good.Images[t.Container])
		}
	}
	return st, nil
}

// lastGood is the newest revision before the current one that gantry did not see fail
// and that runs another image: never the broken revision.
func lastGood(rss []kubectl.ReplicaSetState, d kubectl.DeploymentState, container string) (kubectl.ReplicaSetState, bool) {
	return kubectl.RollbackRevision(rss, d, container)
}

// prodRefusal says why the rollout must not happen: prod unknown, or a downgrade.
func prodRefusal(o PromoteOptions, p *Promotion, st ProdState) string {
	switch {
	case st.Unconfigured != "":
		return st.Unconfigured
	case st.Unreachable != nil:
		return fmt.Sprintf("cannot read what prod runs: %v; check prod.host, prod.kubectl and that the cluster is up", st.Unreachable)
	}
	if st.Exists && st.Version != "" && !o.AllowDowngrade {
		if c, ok := compareVersions(p.Meta.Version, st.Version); ok && c < 0 {
			return fmt.Sprintf("prod runs %s, newer than %s: promote never downgrades; go back with `gantry rollback prod`, or pass --allow-downgrade to roll %s out anyway (audited)",
				st.Version, p.Meta.Version, p.Meta.Version)
		}
	}
	return ""
}

var versionRe = regexp.MustCompile(`^v?(\d+(?:\.\d+)*)(?:[-._]?(a|b|c|rc|alpha|beta|pre|preview|dev)\.?(\d*))?(?:[-+].*)?$`)

// compareVersions compares two release versions (1.2.3, 1.2.3rc1, 1.2.3-beta.2): -1, 0
// or 1, and ok false when either cannot be read. A pre-release sorts before its release.
func compareVersions(a, b string) (int, bool) {
	ma, mb := versionRe.FindStringSubmatch(strings.ToLower(a)), versionRe.FindStringSubmatch(strings.ToLower(b))
	if ma == nil || mb == nil {
		return 0, false
	}
	na, nb := strings.Split(ma[1], "."), strings.Split(mb[1], ".")
	for i := 0; i < len(na) || i < len(nb); i++ {
		x, y := seg(na, i), seg(nb, i)
		if x != y {
			return sign(x - y), true
		}
	}
	// Release > any pre-release; then by pre-release kind and number.
	ra, rb := preRank(ma[2]), preRank(mb[2])
	if ra != rb {
		return sign(ra - rb), true
	}
	x, _ := strconv.Atoi(ma[3])
	y, _ := strconv.Atoi(mb[3])
	return sign(x - y), true
}

func seg(s []string, i int) int {
	if i >= len(s) {
		return 0
	}
	n, _ := strconv.Atoi(s[i])
	return n
}

func preRank(kind string) int {
	switch kind {
	case "":
		return 10
	case "dev":
		return 0
	case "a", "alpha":
		return 1
	case "b", "beta":
		return 2
	case "pre", "preview", "c", "rc":
		return 3
	}
	return 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// commitLines lists commits one per line as "sha7 subject".
func commitLines(commits []git.Commit) string {
	var b strings.Builder
	for i, c := range commits {
		if i == maxNoteCommits {
			b.WriteString("…\n")
			break
		}
		fmt.Fprintf(&b, "%s %s\n", git.ShortSHA(c.SHA), c.Subject)
	}
	return strings.TrimRight(b.String(), "\n")
}

// firstLines keeps the first n lines of s, marking the cut.
func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}
