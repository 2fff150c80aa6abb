package app_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/remote/hoststate"

	"github.com/bookshop-ops/gantry/workflow"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"golang.org/x/crypto/ssh"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// sshEnv sets what a CI job would: the SSH key from a secret, no agent, who runs it.
func sshEnv(t *testing.T) string {
	t.Helper()
	peer := testbed.SSH(t)
	t.Setenv("DOCKER_HOST", testbed.Docker(t))
	key, err := os.ReadFile(peer.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GANTRY_SSH_KEY", string(key))
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("GANTRY_WHO", "e2e-tester")
	t.Setenv("GITHUB_ACTOR", "")
	return string(key)
}

func ecrSection(t *testing.T, repo string) string {
	createECRRepo(t, repo)
	t.Setenv("AWS_ACCESS_KEY_ID", testbed.MotoAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", plantedAWSSecret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return fmt.Sprintf("[registry]\nkind = \"ecr\"\nregion = %q\nrepository = %q\nendpoint = %q\nhost = %q",
		testbed.MotoRegion, repo, testbed.ECREndpoint(t), testbed.Registry(t))
}

func ociSection(t *testing.T, repo string) string {
	return fmt.Sprintf("[registry]\nkind = \"oci\"\nrepository = %q\nhost = %q", repo, testbed.Registry(t))
}

func wantCode(t *testing.T, r run, code int, what string) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("%s: exit status %d, want %d", what, r.Code, code)
	}
}

func wantServing(t *testing.T, port int, sha string) {
	t.Helper()
	body, err := testbed.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("the app on :%d does not answer: %v", port, err)
	}
	if !strings.Contains(body, "1.4.2") || !strings.Contains(body, sha) {
		t.Fatalf("the app on :%d answers %q, want version 1.4.2 and commit %s", port, body, sha)
	}
}

func wantAudit(t *testing.T, sha, result string) {
	t.Helper()
	entries := auditFor(t, hostClient(t), sha)
	if len(entries) == 0 {
		t.Fatalf("no audit line for %s on the host", sha)
	}
	e := entries[0]
	if e.Result != result || e.Env != "dev" || e.Who != "e2e-tester" || e.Version != "1.4.2-SNAPSHOT-"+sha[:7] {
		t.Fatalf("audit line for %s: %+v, want dev, e2e-tester, %s", sha, e, result)
	}
}

// TestDevECROverSSH is the dev workflow end to end: moto as the ECR API, the test
// registry as its registry host, sshd as the EC2 host, all through one SSH connection.
func TestDevECROverSSH(t *testing.T) {
	key := sshEnv(t)
	repoName := "bookshop-e2e-" + testbed.Suffix()
	reg := ecrSection(t, repoName)
	proxy := newCountingProxy(t, testbed.SSH(t).Addr)
	container := "dev-e2e-" + testbed.Suffix()
	removeContainers(t, container)
	appPort := testbed.FreePort(t)

	app := newAppRepo(t)
	app.write("gantry.toml", sshDevToml(reg, proxy.Port(), knownHostsFor(t, proxy.Port(), nil), container, appPort, ""))
	sha1 := app.commit("ssh target")

	r := gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 0, "first deploy")
	if n := proxy.dials.Load(); n != 1 {
		t.Errorf("the run opened %d SSH connections, want 1", n)
	}
	tag1 := "1.4.2-SNAPSHOT-" + sha1[:7]
	if !inRegistry(t, testbed.Registry(t), repoName, tag1) {
		t.Errorf("%s:%s is not in the registry", repoName, tag1)
	}
	wantServing(t, appPort, sha1)
	wantAudit(t, sha1, workflow.ResultOK)
	for _, want := range []string{"url: http://127.0.0.1:", "digest: sha256:", "healthy after"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	noSecrets(t, r.Out, plantedAWSSecret, key, "not-a-real-token")

	// The source label comes from the git remote, without its credentials.
	out, err := exec.Command("docker", "-H", testbed.Docker(t), "image", "inspect", "--format", `{{index .Config.Labels "org.opencontainers.image.source"}} {{index .Config.Labels "org.opencontainers.image.revision"}}`, testbed.Registry(t)+"/"+repoName+":"+tag1).CombinedOutput()
	if err != nil {
		t.Fatalf("inspect the image: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "https://github.com/acme/book-shop "+sha1 {
		t.Errorf("image labels source and revision = %q", got)
	}

	// A second commit deploys over the first, whose snapshot (found through the ECR
	// API) is the build's cache.
	mirrorToMoto(t, repoName, tag1)
	sha2 := app.change("second")
	r = gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 0, "second deploy")
	wantServing(t, appPort, sha2)
	wantAudit(t, sha2, workflow.ResultOK)
	if want := "using " + tag1 + " as build cache"; !strings.Contains(r.Out, want) {
		t.Errorf("the second build does not say %q:\n%s", want, r.Out)
	}
	noSecrets(t, r.Out, plantedAWSSecret, key)

	// Running again on the same commit picks up the image in the registry, and leaves
	// the healthy container of that image alone.
	containerID := func() string {
		out, err := exec.Command("docker", "-H", testbed.Docker(t), "container", "inspect", "--format", "{{.Id}}", container).CombinedOutput()
		if err != nil {
			t.Fatalf("inspect %s: %v: %s", container, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	before := containerID()
	r = gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 0, "re-run")
	for _, want := range []string{"build skipped: already in registry", "push skipped: already in registry",
		"deploy skipped: " + container + " already runs 1.4.2-SNAPSHOT-" + sha2[:7]} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("re-run output lacks %q:\n%s", want, r.Out)
		}
	}
	if after := containerID(); after != before {
		t.Errorf("the re-run replaced the container (%.12s, was %.12s)", after, before)
	}
	wantServing(t, appPort, sha2)

	// Another port map (here from the environment) is a change: the same image is
	// deployed again, on the new port.
	appPort = testbed.FreePort(t)
	t.Setenv("GANTRY_DEV_PORTS", fmt.Sprintf("%d:8000", appPort))
	r = gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 0, "re-run with another port map")
	if strings.Contains(r.Out, "deploy skipped") {
		t.Errorf("a changed dev.ports did not redeploy:\n%s", r.Out)
	}
	wantServing(t, appPort, sha2)

	// Rollback starts the previous image kept on the host.
	r = gantry(t, app.Dir, "rollback", "dev", "--ci")
	wantCode(t, r, 0, "rollback")
	wantServing(t, appPort, sha1)
	wantAudit(t, sha1, workflow.ResultRollback)
	if n := proxy.dials.Load(); n != 5 {
		t.Errorf("five runs opened %d SSH connections, want 5", n)
	}
	noSecrets(t, r.Out, plantedAWSSecret, key)
}

// TestDevFailedHealthCheckKeepsPreviousVersion deploys a build whose health path
// answers 503: the previous container serves again, and a re-run skips build and push.
func TestDevFailedHealthCheckKeepsPreviousVersion(t *testing.T) {
	key := sshEnv(t)
	t.Setenv("GANTRY_REGISTRY_USERNAME", "ci-robot")
	t.Setenv("GANTRY_REGISTRY_PASSWORD", plantedRegPassword)
	repoName := "bookshop-health-" + testbed.Suffix()
	peer := testbed.SSH(t)
	container := "dev-health-" + testbed.Suffix()
	removeContainers(t, container)
	appPort := testbed.FreePort(t)

	app := newAppRepo(t)
	app.write("gantry.toml", sshDevToml(ociSection(t, repoName), peer.Port, peer.KnownHosts, container, appPort, ""))
	good := app.commit("good")
	r := gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 0, "good deploy")
	wantServing(t, appPort, good)
	if !strings.Contains(r.Out, "Login Succeeded") {
		t.Errorf("no docker login on the host with the registry credentials")
	}
	// The login went to gantry's own docker config and was undone after the pull.
	// State paths are relative to $HOME, which the test bed's sshd sets apart from the passwd home.
	cat := hostexec.And(hostexec.Raw(`cd "$HOME"`), hostexec.Command("cat", workflow.DockerConfigDir+"/config.json"))
	res, err := hostClient(t).Run(context.Background(), cat, hostexec.RunOptions{})
	if err != nil {
		t.Fatalf("read gantry's docker config on the host: %v", err)
	}
	if strings.Contains(res.Stdout, testbed.Registry(t)) || strings.Contains(res.Stdout, `"auth"`) {
		t.Errorf("a registry login stayed on the host: %s", res.Stdout)
	}

	dockerfile, err := os.ReadFile(filepath.Join(app.Dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	app.write("Dockerfile", string(dockerfile)+"ENV BOOKSHOP_BROKEN=1\n")
	app.write("gantry.toml", sshDevToml(ociSection(t, repoName), peer.Port, peer.KnownHosts, container, appPort, `health_timeout = "4s"`))
	broken := app.commit("broken health")
	r = gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 1, "broken deploy")
	for _, want := range []string{"HTTP 503", "last log lines of the new container", "listening on :8000", "is serving again"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	wantServing(t, appPort, good)
	wantAudit(t, broken, workflow.ResultRolledBack)
	noSecrets(t, r.Out, plantedRegPassword, key)

	// The failed commit's image is in the registry: a re-run goes straight to deploy.
	r = gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 1, "re-run of the broken deploy")
	for _, want := range []string{"build skipped: already in registry", "push skipped: already in registry", "deploy failed"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("re-run output lacks %q", want)
		}
	}
	wantServing(t, appPort, good)
	noSecrets(t, r.Out, plantedRegPassword, key)
}

// TestDevHeldLockBlocksDeploy holds the dev lock as someone else: the deploy waits
// lock_timeout, fails naming the holder, and a re-run after release deploys.
func TestDevHeldLockBlocksDeploy(t *testing.T) {
	sshEnv(t)
	peer := testbed.SSH(t)
	container := "dev-lock-" + testbed.Suffix()
	removeContainers(t, container)
	appPort := testbed.FreePort(t)
	app := newAppRepo(t)
	app.write("gantry.toml", sshDevToml(ociSection(t, "bookshop-lock-"+testbed.Suffix()), peer.Port, peer.KnownHosts, container, appPort, ""))
	sha := app.commit("locked")

	host := hostClient(t)
	lock := &hoststate.Lock{Host: host, App: "book-shop", Target: hoststate.DevTarget(container), Env: "dev", Who: "someone-else (actions run 42)", Version: "9.9.9-SNAPSHOT-abcdef0", Timeout: time.Second}
	if err := lock.Acquire(context.Background(), t.Logf); err != nil {
		t.Fatalf("take the lock: %v", err)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			_ = lock.Release(context.Background())
		}
	})

	r := gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 1, "deploy under someone else's lock")
	for _, want := range []string{"held by someone-else (actions run 42)", "9.9.9-SNAPSHOT-abcdef0"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if _, err := testbed.Get(fmt.Sprintf("http://127.0.0.1:%d/", appPort)); err == nil {
		t.Errorf("something serves on :%d although the deploy never got the lock", appPort)
	}
	if err := lock.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	released = true

	r = gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 0, "deploy after the lock is released")
	if !strings.Contains(r.Out, "build skipped: already in registry") {
		t.Errorf("the re-run rebuilt the image")
	}
	wantServing(t, appPort, sha)
}

// TestDevRefusesChangedHostKey points known_hosts at another key: preflight stops the
// run with the presented key's fingerprint, before anything is built or deployed.
func TestDevRefusesChangedHostKey(t *testing.T) {
	sshEnv(t)
	peer := testbed.SSH(t)
	data, err := os.ReadFile(peer.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	_, _, realKey, _, _, err := ssh.ParseKnownHosts(data)
	if err != nil {
		t.Fatal(err)
	}
	container := "dev-hostkey-" + testbed.Suffix()
	removeContainers(t, container)
	appPort := testbed.FreePort(t)
	repoName := "bookshop-hostkey-" + testbed.Suffix()
	app := newAppRepo(t)
	app.write("gantry.toml", sshDevToml(ociSection(t, repoName), peer.Port, knownHostsFor(t, peer.Port, otherHostKey(t)), container, appPort, ""))
	sha := app.commit("changed key")

	r := gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 2, "deploy to a host with a changed key")
	for _, want := range []string{"HOST KEY CHANGED", ssh.FingerprintSHA256(realKey), "nothing was changed"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if inRegistry(t, testbed.Registry(t), repoName, "1.4.2-SNAPSHOT-"+sha[:7]) {
		t.Errorf("the image was pushed although preflight failed")
	}
	if _, err := testbed.Get(fmt.Sprintf("http://127.0.0.1:%d/", appPort)); err == nil {
		t.Errorf("something serves on :%d although preflight failed", appPort)
	}
}

// TestDevLocalEmbedded runs the no-account default: the embedded registry and the
// local engine, then rolls back to the previous image.
func TestDevLocalEmbedded(t *testing.T) {
	t.Setenv("DOCKER_HOST", testbed.Docker(t))
	if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
		t.Setenv("GOCACHE", strings.TrimSpace(string(out))) // HOME moves below
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("GANTRY_DATA_DIR", t.TempDir())
	t.Setenv("GANTRY_REGISTRY_HOST", fmt.Sprintf("127.0.0.1:%d", testbed.FreePort(t)))
	t.Setenv("GANTRY_REGISTRY_REPOSITORY", "book-shop-local-"+testbed.Suffix())
	container := "dev-local-" + testbed.Suffix()
	removeContainers(t, container)
	t.Setenv("GANTRY_DEV_CONTAINER", container)
	appPort := testbed.FreePort(t)
	t.Setenv("GANTRY_DEV_PORTS", fmt.Sprintf("%d:8000", appPort))
	t.Setenv("GANTRY_WHO", "local-tester")

	app := newAppRepo(t) // the example's own gantry.toml: embedded registry, local target
	first := app.commit("first")
	r := gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 0, "first local deploy")
	if !strings.Contains(r.Out, "needs no credentials") || !strings.Contains(r.Out, "local docker CLI") {
		t.Errorf("output does not show the embedded registry and local target")
	}
	wantServing(t, appPort, first)

	second := app.change("second")
	r = gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 0, "second local deploy")
	wantServing(t, appPort, second)

	r = gantry(t, app.Dir, "rollback", "dev", "--ci")
	wantCode(t, r, 0, "rollback")
	wantServing(t, appPort, first)

	audit, err := os.ReadFile(filepath.Join(home, hoststate.AuditPath("book-shop", hoststate.DevTarget(container))))
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	entries := hoststate.ParseAudit(string(audit), 0)
	if len(entries) != 3 || entries[0].Result != workflow.ResultRollback || entries[0].SHA != first ||
		entries[1].Result != workflow.ResultOK || entries[1].SHA != second || entries[0].Who != "local-tester" {
		t.Errorf("audit log:\n%s", audit)
	}
}
