package testbed_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"al.essio.dev/pkg/shellescape"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// suffix returns a random lowercase hex string, so tests sharing a peer never collide.
func suffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.WithHost(testbed.Docker(t)), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestDockerEngine(t *testing.T) {
	ctx := t.Context()
	c := dockerClient(t)
	ping, err := c.Ping(ctx)
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	if ping.APIVersion == "" {
		t.Fatal("ping returned no API version")
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if info.ServerVersion == "" || info.ID == "" {
		t.Fatalf("info lacks version or id: %+v", info)
	}
	// It must be the bed's private engine, never a system Docker.
	if want := filepath.Join(testbed.Dir(t), "docker", "data"); info.DockerRootDir != want {
		t.Fatalf("engine root dir %q, want the bed's %q", info.DockerRootDir, want)
	}
	t.Logf("dockerd %s (API %s)", info.ServerVersion, ping.APIVersion)
}

func TestRegistry(t *testing.T) {
	ctx := t.Context()
	reg := testbed.Registry(t)

	resp, err := http.Get("http://" + reg + "/v2/")
	if err != nil {
		t.Fatalf("GET /v2/: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/: %s", resp.Status)
	}
	if v := resp.Header.Get("Docker-Distribution-Api-Version"); v != "registry/2.0" {
		t.Fatalf("Docker-Distribution-Api-Version %q, want registry/2.0", v)
	}

	repo := "testbed/smoke-" + suffix(t)
	tag, err := name.NewTag(reg+"/"+repo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("push %s: %v", tag, err)
	}
	repos, err := remote.Catalog(ctx, tag.Registry)
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	if !slices.Contains(repos, repo) {
		t.Fatalf("catalog %v lacks %s", repos, repo)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(tag, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("head %s: %v", tag, err)
	}
	if desc.Digest != want {
		t.Fatalf("registry digest %s, pushed %s", desc.Digest, want)
	}

	// Deletes are enabled, so a pushed manifest can be removed again.
	byDigest := tag.Context().Digest(want.String())
	if err := remote.Delete(byDigest, remote.WithContext(ctx)); err != nil {
		t.Fatalf("delete %s: %v", byDigest, err)
	}
	_, err = remote.Head(tag, remote.WithContext(ctx))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
		t.Fatalf("head after delete: got %v, want 404", err)
	}
}

// run executes cmd in a new session on c and returns stdout, stderr and the error
// (an *ssh.ExitError for a non-zero exit).
func run(t *testing.T, c *ssh.Client, cmd string, stdin string) (string, string, error) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("ssh session: %v", err)
	}
	defer func() { _ = s.Close() }()
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr = &out, &errOut
	if stdin != "" {
		s.Stdin = strings.NewReader(stdin)
	}
	err = s.Run(cmd)
	return out.String(), errOut.String(), err
}

// mustRun is run for commands that must succeed; it returns trimmed stdout.
func mustRun(t *testing.T, c *ssh.Client, cmd string, stdin string) string {
	t.Helper()
	out, errOut, err := run(t, c, cmd, stdin)
	if err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", cmd, err, out, errOut)
	}
	return strings.TrimSpace(out)
}

func TestSSHHost(t *testing.T) {
	peer := testbed.SSH(t)
	c := peer.Dial(t)

	// docker on the SSH host reaches the same engine the tests use.
	info, err := dockerClient(t).Info(t.Context())
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if got := mustRun(t, c, "docker version --format '{{.Server.Version}}'", ""); got != info.ServerVersion {
		t.Fatalf("remote docker server version %q, test engine %q", got, info.ServerVersion)
	}
	if got := mustRun(t, c, "docker info --format '{{.ID}}'", ""); got != info.ID {
		t.Fatalf("remote docker engine id %q, test engine %q", got, info.ID)
	}

	// The microk8s shim reaches the test cluster.
	if got := mustRun(t, c, "microk8s kubectl get nodes -o name", ""); got != "node/"+testbed.KubeNode {
		t.Fatalf("microk8s kubectl get nodes: %q, want node/%s", got, testbed.KubeNode)
	}
	kc, err := os.ReadFile(testbed.Kubeconfig(t))
	if err != nil {
		t.Fatalf("read kubeconfig: %v", err)
	}
	m := regexp.MustCompile(`(?m)^\s*server:\s*(\S+)`).FindSubmatch(kc)
	if m == nil {
		t.Fatalf("no server in %s", testbed.Kubeconfig(t))
	}
	server := mustRun(t, c, "microk8s kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}'", "")
	if server != string(m[1]) {
		t.Fatalf("shim talks to %q, %s names %q", server, testbed.EnvKubeconfig, m[1])
	}

	// Host keys are really checked: a known_hosts naming another key is refused.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	wrong := peer
	wrong.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(peer.Addr)}, other)
	if err := os.WriteFile(wrong.KnownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", peer.Addr, wrong.ClientConfig(t))
	if err == nil {
		_ = conn.Close()
		t.Fatal("ssh accepted a host key that known_hosts does not list")
	}
	var kerr *knownhosts.KeyError
	if !errors.As(err, &kerr) || len(kerr.Want) == 0 {
		t.Fatalf("dial with the wrong known_hosts: %v, want a knownhosts.KeyError (key mismatch)", err)
	}
}

func TestECR(t *testing.T) {
	ctx := t.Context()
	svc := testbed.MotoECR(t)

	repo := "smoke/app-" + suffix(t)
	created, err := svc.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatalf("create repository: %v", err)
	}
	t.Cleanup(func() {
		_, _ = svc.DeleteRepository(context.Background(), &ecr.DeleteRepositoryInput{RepositoryName: aws.String(repo), Force: true})
	})
	if got := aws.ToString(created.Repository.RepositoryName); got != repo {
		t.Fatalf("created %q, want %q", got, repo)
	}
	out, err := svc.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{repo}})
	if err != nil {
		t.Fatalf("describe repositories: %v", err)
	}
	if len(out.Repositories) != 1 {
		t.Fatalf("describe returned %d repositories, want 1", len(out.Repositories))
	}
	r := out.Repositories[0]
	if aws.ToString(r.RegistryId) != testbed.MotoAccountID || !strings.HasSuffix(aws.ToString(r.RepositoryUri), "/"+repo) {
		t.Fatalf("unexpected repository: id %q uri %q", aws.ToString(r.RegistryId), aws.ToString(r.RepositoryUri))
	}
}

// kube runs `microk8s kubectl ARGS` on the SSH host, quoting every argument.
func kube(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellescape.Quote(a)
	}
	return "microk8s kubectl " + strings.Join(q, " ")
}

func deployment(name, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 2
  progressDeadlineSeconds: 10
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: app
        image: %[2]s
`, name, image)
}

// waitingReasons lists the waiting reason of every container of the deployment's pods
// that run image.
func waitingReasons(t *testing.T, c *ssh.Client, app, image string) []string {
	t.Helper()
	out := mustRun(t, c, kube("get", "pods", "-l", "app="+app, "-o",
		`jsonpath={range .items[*].status.containerStatuses[*]}{.image} {.state.waiting.reason} {.restartCount}{"\n"}{end}`), "")
	var reasons []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == image {
			reasons = append(reasons, f[1]+" "+f[2])
		}
	}
	return reasons
}

// describe returns the deployment's status and pods, for failure messages.
func describe(t *testing.T, c *ssh.Client, app string) string {
	t.Helper()
	dep, _, _ := run(t, c, kube("get", "deployment", app, "-o", "jsonpath={.status}"), "")
	pods, _, _ := run(t, c, kube("get", "pods", "-l", "app="+app, "-o", "wide"), "")
	return "deployment status: " + dep + "\n" + pods
}

// poll calls f every 250ms until it returns true or the timeout passes.
func poll(t *testing.T, timeout time.Duration, f func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if f() {
			return true
		}
		time.Sleep(250 * time.Millisecond)
	}
	return false
}

func TestKubernetesRollouts(t *testing.T) {
	c := testbed.SSH(t).Dial(t)

	newDeployment := func(t *testing.T) string {
		app := "smoke-" + suffix(t)
		mustRun(t, c, kube("apply", "-f", "-"), deployment(app, "registry.example/healthy:1"))
		t.Cleanup(func() { _, _, _ = run(t, c, kube("delete", "deployment", app, "--wait=false"), "") })
		mustRun(t, c, kube("rollout", "status", "deployment/"+app, "--timeout=60s"), "")
		if got := mustRun(t, c, kube("get", "deployment", app, "-o", "jsonpath={.status.readyReplicas}"), ""); got != "2" {
			t.Fatalf("ready replicas %q, want 2", got)
		}
		return app
	}

	t.Run("image pull failure and undo", func(t *testing.T) {
		t.Parallel()
		app := newDeployment(t)
		bad := "registry.example/nopull:2"
		mustRun(t, c, kube("set", "image", "deployment/"+app, "app="+bad), "")
		out, errOut, err := run(t, c, kube("rollout", "status", "deployment/"+app, "--timeout=60s"), "")
		var exit *ssh.ExitError
		if !errors.As(err, &exit) || exit.ExitStatus() == 0 {
			t.Fatalf("rollout status of a never-pulling image: err %v, want a non-zero exit\n%s%s", err, out, errOut)
		}
		if !strings.Contains(errOut, "exceeded its progress deadline") {
			t.Fatalf("rollout status stderr %q lacks the progress-deadline error", errOut)
		}
		reasons := waitingReasons(t, c, app, bad)
		if len(reasons) == 0 || !strings.HasPrefix(reasons[0], "ImagePullBackOff ") {
			t.Fatalf("pods of %s: %q, want ImagePullBackOff", bad, reasons)
		}
		// The old pods keep serving while the new one cannot start.
		if got := mustRun(t, c, kube("get", "deployment", app, "-o", "jsonpath={.status.availableReplicas}"), ""); got != "2" {
			t.Fatalf("available replicas during the failed rollout %q, want 2\n%s", got, describe(t, c, app))
		}

		mustRun(t, c, kube("rollout", "undo", "deployment/"+app), "")
		mustRun(t, c, kube("rollout", "status", "deployment/"+app, "--timeout=60s"), "")
		img := mustRun(t, c, kube("get", "deployment", app, "-o", "jsonpath={.spec.template.spec.containers[0].image}"), "")
		if img != "registry.example/healthy:1" {
			t.Fatalf("image after undo %q, want registry.example/healthy:1", img)
		}
		if !poll(t, 30*time.Second, func() bool { return len(waitingReasons(t, c, app, bad)) == 0 }) {
			t.Fatalf("pods of %s still there after undo", bad)
		}
	})

	t.Run("crash loop", func(t *testing.T) {
		t.Parallel()
		app := newDeployment(t)
		bad := "registry.example/crashloop:3"
		mustRun(t, c, kube("set", "image", "deployment/"+app, "app="+bad), "")

		restarts := func() int {
			for _, r := range waitingReasons(t, c, app, bad) {
				f := strings.Fields(r)
				if f[0] == "CrashLoopBackOff" {
					n, _ := strconv.Atoi(f[1])
					return n
				}
			}
			return -1
		}
		first := -1
		if !poll(t, 30*time.Second, func() bool { first = restarts(); return first > 0 }) {
			t.Fatalf("no pod of %s in CrashLoopBackOff: %q", bad, waitingReasons(t, c, app, bad))
		}
		if !poll(t, 30*time.Second, func() bool { return restarts() > first }) {
			t.Fatalf("restartCount stuck at %d", first)
		}
		out, errOut, err := run(t, c, kube("rollout", "status", "deployment/"+app, "--timeout=60s"), "")
		if err == nil {
			t.Fatalf("rollout status of a crash-looping image succeeded:\n%s", out)
		}
		if !strings.Contains(errOut, "exceeded its progress deadline") {
			t.Fatalf("rollout status stderr %q lacks the progress-deadline error", errOut)
		}
	})
}
