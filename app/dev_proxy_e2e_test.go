package app_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
)

// TestDevProxyModeEndToEnd: gantry dev with dev.switch = "proxy" on the SSH test host
// shows the switch in its dry-run plan, deploys behind the proxy, a re-run skips,
// doctor checks the proxy, and the Environments status says which container
// receives the traffic.
func TestDevProxyModeEndToEnd(t *testing.T) {
	sshEnv(t)
	peer := testbed.SSH(t)
	container := "dev-proxy-e2e-" + testbed.Suffix()
	removeContainers(t, container, container+"-proxy")
	t.Cleanup(func() {
		cmd := exec.Command("docker", "network", "rm", "gantry-"+container)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+testbed.Docker(t))
		_ = cmd.Run()
	})
	appPort := testbed.FreePort(t)
	repo := newAppRepo(t)
	proxy := benchProxyImage(t)
	repo.write("gantry.toml", sshDevToml(ociSection(t, "bookshop-proxy-"+testbed.Suffix()), peer.Port, peer.KnownHosts, container, appPort,
		fmt.Sprintf("switch = \"proxy\"\nproxy_image = %q\ndrain = \"1s\"", proxy)))
	sha := repo.commit("proxy")

	r := gantry(t, repo.Dir, "dev", "--dry-run")
	wantCode(t, r, 0, "dry run")
	for _, want := range []string{"direct → proxy (adoption)", "create " + container + "-proxy from " + proxy} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, r.Out)
		}
	}
	r = gantry(t, repo.Dir, "dev", "--ci")
	wantCode(t, r, 0, "proxy deploy")
	r = gantry(t, repo.Dir, "dev", "--ci")
	wantCode(t, r, 0, "re-run")
	if !strings.Contains(r.Out, "answers healthy") {
		t.Errorf("the re-run did not skip the deploy:\n%s", r.Out)
	}
	r = gantry(t, repo.Dir, "doctor") // fails on the unset prod and GitHub settings
	if !strings.Contains(r.Out, "✓ dev proxy "+container+"-proxy") {
		t.Errorf("doctor's proxy check does not pass:\n%s", r.Out)
	}

	cfg, err := config.Load(config.Options{Dir: repo.Dir})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st, err := a.DevStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Switch != "proxy" || st.SwitchWant != "proxy" || st.Proxy != "running" || st.ProxyImage != proxy ||
		st.Receiving != container || st.Upstream == "" || !strings.HasPrefix(st.ImageID, "sha256:") || st.SHA != sha || st.Health != "200" {
		t.Fatalf("dev status: %+v", st)
	}
}
