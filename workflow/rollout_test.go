package workflow

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/remote/kubectl"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/pipeline/pipelinetest"

	"github.com/bookshop-ops/gantry/remote/hostexec"
)

const fakeDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testTarget(k kubectl.Client, manifest string) ProdTarget {
	return ProdTarget{
		Kubectl: k.Command, Namespace: k.Namespace, App: "book-shop",
		Deployment: "django-app", Container: "django-container",
		Manifest: manifest, PinDigest: true, UndoOnFailure: true,
		RolloutTimeout: 2 * time.Minute, Poll: 500 * time.Millisecond,
		Lock: LockOptions{Timeout: 3 * time.Minute, Stale: 30 * time.Minute},
	}
}

// podsOf counts the deployment's live pods per image and how many of them are ready.
func podsOf(t *testing.T, k kubectl.Client) (total, ready map[string]int) {
	t.Helper()
	pods, err := k.Pods(context.Background(), "app=django-app")
	if err != nil {
		t.Fatal(err)
	}
	total, ready = map[string]int{}, map[string]int{}
	for _, p := range pods {
		if p.Deleting {
			continue
		}
		for _, c := range p.Containers {
			total[c.Image]++
			if c.Ready {
				ready[c.Image]++
			}
		}
	}
	return total, ready
}

func TestRolloutOnRealCluster(t *testing.T) {
	host := prodHost(t)
	k := kubeNamespace(t, host)
	tgt := testTarget(k, testManifest(t))
	ctx := context.Background()
	good := "registry.test/book-shop:v1.0.0@" + fakeDigest

	t.Run("first rollout creates the deployment", func(t *testing.T) {
		r := &logReporter{}
		out, err := deployImage(ctx, r, k, tgt, good, "gantry promote 1.0.0")
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Text())
		}
		if out.after.Images["django-container"] != good || out.after.Ready != 2 || out.after.Desired != 2 || out.after.Revision != "1" || out.after.ChangeCause != "gantry promote 1.0.0" {
			t.Fatalf("after = %+v", out.after)
		}
		for _, want := range []string{"does not exist yet", "deployment.apps/django-app created", `successfully rolled out`} {
			if !strings.Contains(r.Text(), want) {
				t.Errorf("log lacks %q:\n%s", want, r.Text())
			}
		}
	})

	t.Run("a re-run changes nothing", func(t *testing.T) {
		r := &logReporter{}
		out, err := deployImage(ctx, r, k, tgt, good, "gantry promote 1.0.0")
		if err != nil || out.after.Revision != "1" {
			t.Fatalf("re-run: revision %s, %v\n%s", out.after.Revision, err, r.Text())
		}
		if !strings.Contains(r.Text(), "deployment.apps/django-app unchanged") {
			t.Errorf("apply changed the deployment on a re-run:\n%s", r.Text())
		}
	})

	for _, tc := range []struct{ name, image, reason, msg string }{
		{"never pulls", "registry.test/book-shop-nopull:v1.0.1@" + fakeDigest, "ImagePullBackOff", "Back-off pulling image"},
		{"crash-loops", "registry.test/book-shop-crashloop:v1.0.2@" + fakeDigest, "CrashLoopBackOff", "back-off 10s restarting failed container=django-container"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &logReporter{}
			out, err := deployImage(ctx, r, k, tgt, tc.image, "gantry promote broken")
			var stuck *kubectl.StuckPodsError
			var failed *RolloutFailedError
			if !errors.As(err, &stuck) || !errors.As(err, &failed) || !errors.Is(err, kubectl.ErrRolloutFailed) {
				t.Fatalf("err = %v, want a stuck-pods failure detected before the rollout timeout\n%s", err, r.Text())
			}
			if stuck.Problems[0].Reason != tc.reason || !strings.Contains(err.Error(), tc.msg) || stuck.Problems[0].Image != tc.image {
				t.Fatalf("problems = %+v", stuck.Problems)
			}
			if failed.Restored == "" || !strings.Contains(failed.Restored, good) || !strings.Contains(err.Error(), "undone: the deployment runs") {
				t.Fatalf("restored = %q (%v)", failed.Restored, err)
			}
			if !strings.Contains(out.short, tc.reason) || !strings.Contains(out.short, "undone to revision") {
				t.Errorf("audit reason = %q", out.short)
			}
			d, err := k.Deployment(ctx, "django-app")
			if err != nil {
				t.Fatal(err)
			}
			if d.Images["django-container"] != good || d.Ready != 2 || d.ChangeCause != "gantry promote 1.0.0" {
				t.Fatalf("after undo the deployment is %+v", d)
			}
			// The old ReplicaSet kept serving: both its pods are ready.
			_, ready := podsOf(t, k)
			if ready[good] != 2 {
				t.Fatalf("ready pods per image after undo: %v", ready)
			}
			for _, want := range []string{"rollout undo deployment/django-app", "restored: django-container=" + good, "✗ pod django-app-"} {
				if !strings.Contains(r.Text(), want) {
					t.Errorf("log lacks %q:\n%s", want, r.Text())
				}
			}
		})
	}

	rollback := func() (map[string]string, string, error) {
		rec := &pipelinetest.Recorder{}
		steps := RollbackProd(RollbackProdOptions{
			Host: func(context.Context) (hostexec.Runner, error) { return host, nil },
			Prod: tgt, Who: "tester",
		})
		sum, err := pipeline.Run(ctx, "rollback prod", steps, rec)
		return sum, logText(rec), err
	}

	t.Run("rollback never goes back to a failed revision", func(t *testing.T) {
		rss, err := k.ReplicaSets(ctx, "django-app", "app=django-app")
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for _, rs := range rss {
			if rs.Failed != "" {
				failed++
			}
		}
		if failed != 2 {
			t.Fatalf("%d revisions marked failed, want 2: %+v", failed, rss)
		}
		_, logs, err := rollback()
		if err == nil || !strings.Contains(err.Error(), "nothing to roll back to") {
			t.Fatalf("rollback to a failed revision: %v\n%s", err, logs)
		}
		if d, _ := k.Deployment(ctx, "django-app"); d.Images["django-container"] != good {
			t.Fatalf("rollback changed the deployment: %+v", d)
		}
	})

	t.Run("a healthy version after failures", func(t *testing.T) {
		next := "registry.test/book-shop:v1.1.0@" + fakeDigest
		r := &logReporter{}
		out, err := deployImage(ctx, r, k, tgt, next, "gantry promote 1.1.0")
		if err != nil || out.after.Images["django-container"] != next || out.after.Ready != 2 {
			t.Fatalf("%+v %v\n%s", out.after, err, r.Text())
		}
		total, _ := podsOf(t, k)
		if total[next] != 2 {
			t.Fatalf("pods per image: %v", total)
		}
	})

	t.Run("rollback prod", func(t *testing.T) {
		sum, logs, err := rollback()
		if err != nil {
			t.Fatalf("%v\n%s", err, logs)
		}
		if !strings.Contains(logs, "rollout undo deployment/django-app --to-revision") {
			t.Errorf("log:\n%s", logs)
		}
		d, err := k.Deployment(ctx, "django-app")
		if err != nil || d.Images["django-container"] != good || d.Ready != 2 {
			t.Fatalf("after rollback: %+v %v", d, err)
		}
		if sum["image"] != good || !strings.Contains(sum["rollout"], "2/2 ready") {
			t.Fatalf("summary = %v", sum)
		}
		entries, err := prodAudit(ctx, host, tgt, 5)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if e.Env == "prod" && e.Who == "tester" && e.Version == "1.0.0" && strings.HasPrefix(e.Result, "rollback: ok at revision") {
				found = true
			}
		}
		if !found {
			t.Fatalf("no rollback audit line in %+v", entries)
		}
	})
}

func TestRolloutFailureWithoutUndo(t *testing.T) {
	host := prodHost(t)
	k := kubeNamespace(t, host)
	tgt := testTarget(k, testManifest(t))
	ctx := context.Background()

	// A first rollout that fails has nothing to go back to.
	r := &logReporter{}
	_, err := deployImage(ctx, r, k, tgt, "registry.test/book-shop-nopull:v0.1.0", "first")
	var failed *RolloutFailedError
	if !errors.As(err, &failed) || !strings.Contains(failed.Note, "nothing to undo") || failed.Restored != "" {
		t.Fatalf("first rollout: %v\n%s", err, r.Text())
	}

	// With undo off, a failure is left for the user.
	good := "registry.test/book-shop:v0.2.0"
	if _, err := deployImage(ctx, &logReporter{}, k, tgt, good, "ok"); err != nil {
		t.Fatal(err)
	}
	tgt.UndoOnFailure = false
	_, err = deployImage(ctx, &logReporter{}, k, tgt, "registry.test/book-shop-crashloop:v0.3.0", "bad")
	if !errors.As(err, &failed) || !strings.Contains(failed.Note, "gantry rollback prod") {
		t.Fatalf("undo off: %v", err)
	}
	d, _ := k.Deployment(ctx, "django-app")
	if d.Images["django-container"] != "registry.test/book-shop-crashloop:v0.3.0" {
		t.Fatalf("undo ran although disabled: %+v", d)
	}
	// The old pods still serve while the new one crash-loops.
	_, ready := podsOf(t, k)
	if ready[good] != 2 {
		t.Fatalf("ready pods: %v", ready)
	}
}

func TestStuckPodsIgnoresKnownAndDeleting(t *testing.T) {
	pods, err := kubectl.ParsePods([]byte(`{"items":[
	 {"metadata":{"name":"old","uid":"u1"},"status":{"containerStatuses":[{"name":"c","image":"i","state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}},
	 {"metadata":{"name":"gone","uid":"u2","deletionTimestamp":"2024-01-01T00:00:00Z"},"status":{"containerStatuses":[{"name":"c","image":"i","state":{"waiting":{"reason":"ImagePullBackOff"}}}]}},
	 {"metadata":{"name":"starting","uid":"u3"},"status":{"containerStatuses":[{"name":"c","image":"i","state":{"waiting":{"reason":"ContainerCreating"}}}]}},
	 {"metadata":{"name":"new","uid":"u4"},"status":{"initContainerStatuses":[{"name":"init","image":"j","restartCount":3,"lastState":{"terminated":{"reason":"Error","exitCode":2}},"state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off"}}}]}}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	probs := kubectl.StuckPods(pods, map[string]bool{"u1": true})
	if len(probs) != 1 || probs[0].Pod != "new" || probs[0].Container != "init" {
		t.Fatalf("problems = %+v", probs)
	}
	if got := probs[0].String(); got != "pod new container init: CrashLoopBackOff: back-off (3 restarts, last Error (exit 2))" {
		t.Fatalf("String() = %q", got)
	}
}

func TestImageVersion(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000/book-shop:v1.2.3@" + fakeDigest: "1.2.3",
		"repo/book-shop:v2.0.0rc1":                      "2.0.0rc1",
		"127.0.0.1:5000/book-shop":                      "",
		"book-shop@" + fakeDigest:                       "",
	} {
		if got := ImageVersion(in); got != want {
			t.Errorf("ImageVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
