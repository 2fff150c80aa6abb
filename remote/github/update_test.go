package github_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/remote/github/githubtest"
)

func ptr[T any](v T) *T { return &v }

func TestDraftLifecycle(t *testing.T) {
	ctx := context.Background()
	s, c := fixture(t, 3)
	old, err := c.CreateRelease(ctx, github.NewRelease{Tag: "1.0.0", Target: sha(1), MakeLatest: true})
	if err != nil {
		t.Fatal(err)
	}

	draft, err := c.CreateRelease(ctx, github.NewRelease{Tag: "1.1.0", Target: sha(3), Name: "1.1.0", Body: "notes", Draft: true})
	if err != nil {
		t.Fatal(err)
	}
	if !draft.Draft || !draft.PublishedAt.IsZero() || !strings.Contains(draft.HTMLURL, "/releases/tag/untagged-") {
		t.Errorf("draft %+v", draft)
	}
	reqs := s.Requests()
	var sent map[string]any
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent["draft"] != true || sent["make_latest"] != "false" {
		t.Errorf("draft request %v", sent)
	}
	if _, ok := s.TagCommit(repoName, "1.1.0"); ok {
		t.Error("a draft created its tag")
	}
	if _, err := c.ReleaseByTag(ctx, "1.1.0"); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("draft by tag: %v, want ErrNotFound", err)
	}
	if l, err := c.LatestRelease(ctx); err != nil || l.ID != old.ID {
		t.Errorf("latest while draft: %+v %v, want %d", l, err, old.ID)
	}
	if _, err := c.CreateRelease(ctx, github.NewRelease{Tag: "x", Draft: true, MakeLatest: true}); err == nil {
		t.Error("draft with MakeLatest accepted")
	}

	found, err := c.FindRelease(ctx, "1.1.0")
	if err != nil || found.ID != draft.ID || !found.Draft {
		t.Fatalf("FindRelease draft: %+v %v", found, err)
	}
	if found, err := c.FindRelease(ctx, "1.0.0"); err != nil || found.ID != old.ID {
		t.Errorf("FindRelease published: %+v %v", found, err)
	}
	if _, err := c.FindRelease(ctx, "9.9.9"); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("FindRelease missing: %v, want ErrNotFound", err)
	}

	// Publishing keeps the old latest when asked to, creates the tag at the target.
	pub, err := c.UpdateRelease(ctx, draft.ID, github.ReleaseUpdate{Draft: ptr(false), MakeLatest: "false", Body: ptr("final notes")})
	if err != nil {
		t.Fatal(err)
	}
	if pub.Draft || pub.PublishedAt.IsZero() || pub.Body != "final notes" || pub.Name != "1.1.0" || pub.HTMLURL != "https://github.com/"+repoName+"/releases/tag/1.1.0" {
		t.Errorf("published %+v", pub)
	}
	if got, ok := s.TagCommit(repoName, "1.1.0"); !ok || got != sha(3) {
		t.Errorf("tag after publish: %q %v, want %s", got, ok, sha(3))
	}
	if l, err := c.LatestRelease(ctx); err != nil || l.ID != old.ID {
		t.Errorf("latest after make_latest=false: %+v %v", l, err)
	}
	if _, err := c.UpdateRelease(ctx, draft.ID, github.ReleaseUpdate{MakeLatest: "true"}); err != nil {
		t.Fatal(err)
	}
	if l, err := c.LatestRelease(ctx); err != nil || l.ID != draft.ID {
		t.Errorf("latest after make_latest=true: %+v %v", l, err)
	}
	reqs = s.Requests()
	sent = nil
	last := reqs[len(reqs)-2] // before the GET of latest
	if last.Method != "PATCH" {
		t.Fatalf("request %s %s, want the PATCH", last.Method, last.Path)
	}
	if err := json.Unmarshal(last.Body, &sent); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 || sent["make_latest"] != "true" {
		t.Errorf("update sent %v, want only make_latest", sent)
	}
	if _, err := c.UpdateRelease(ctx, draft.ID, github.ReleaseUpdate{MakeLatest: "maybe"}); err == nil {
		t.Error("bad make_latest accepted")
	}

	if err := c.DeleteRelease(ctx, draft.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindRelease(ctx, "1.1.0"); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if _, ok := s.TagCommit(repoName, "1.1.0"); !ok {
		t.Error("delete removed the tag")
	}
	if err := c.DeleteRelease(ctx, draft.ID); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := c.UpdateRelease(ctx, draft.ID, github.ReleaseUpdate{Draft: ptr(false)}); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("update deleted: %v, want ErrNotFound", err)
	}
}

func TestPublishDraftDefaultsToLatest(t *testing.T) {
	ctx := context.Background()
	s, c := fixture(t, 2)
	s.AddRelease(repoName, githubtest.Release{TagName: "1.0.0", TargetCommitish: sha(1)})
	d, err := c.CreateRelease(ctx, github.NewRelease{Tag: "1.1.0", Target: sha(2), Draft: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateRelease(ctx, d.ID, github.ReleaseUpdate{Draft: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if l, err := c.LatestRelease(ctx); err != nil || l.ID != d.ID {
		t.Errorf("latest %+v %v, want the published draft", l, err)
	}
}

func TestWritesWithoutPushPermission(t *testing.T) {
	ctx := context.Background()
	s := githubtest.New(t)
	s.AddRepo(repoName, false)
	s.AddCommit(repoName, sha(1))
	rel := s.AddRelease(repoName, githubtest.Release{TagName: "1.0.0"})
	c := client(t, s, repoName, s.Token)
	if _, err := c.UpdateRelease(ctx, rel.ID, github.ReleaseUpdate{Name: ptr("x")}); !errors.Is(err, github.ErrForbidden) || !strings.Contains(err.Error(), "contents:write") {
		t.Errorf("update: %v", err)
	}
	if err := c.DeleteRelease(ctx, rel.ID); !errors.Is(err, github.ErrForbidden) {
		t.Errorf("delete: %v", err)
	}
}
