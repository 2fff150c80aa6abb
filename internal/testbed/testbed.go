// Package testbed hands tests the addresses of the real peers that scripts/test starts
// on 127.0.0.1 (dockerd, a registry, sshd, moto's ECR API and a Kubernetes cluster).
//
// Each accessor reads one GANTRY_TEST_* variable. When the variable is missing the test
// is skipped, naming the variable, unless GANTRY_TESTBED_REQUIRED=1 (set by scripts/test
// and in CI), in which case it fails: a peer that should be there and is not is a bug in
// the bed, not a reason to pass.
package testbed

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Environment variables exported by scripts/test (and written to $GANTRY_TEST_BED_DIR/env).
const (
	EnvDockerHost    = "GANTRY_TEST_DOCKER_HOST"
	EnvRegistry      = "GANTRY_TEST_REGISTRY"
	EnvSSH           = "GANTRY_TEST_SSH"
	EnvSSHUser       = "GANTRY_TEST_SSH_USER"
	EnvSSHKey        = "GANTRY_TEST_SSH_KEY"
	EnvSSHKnownHosts = "GANTRY_TEST_SSH_KNOWN_HOSTS"
	EnvECREndpoint   = "GANTRY_TEST_ECR_ENDPOINT"
	EnvKubeconfig    = "GANTRY_TEST_KUBECONFIG"
	EnvBedDir        = "GANTRY_TEST_BED_DIR"
	// EnvRequired=1 turns a missing variable into a test failure instead of a skip.
	EnvRequired = "GANTRY_TESTBED_REQUIRED"
)

// Settings that moto accepts; it checks neither the keys nor the signature.
const (
	MotoRegion    = "us-east-1"
	MotoAccessKey = "test"
	MotoSecretKey = "test"
	// MotoAccountID is the account moto puts in every ARN and registry id.
	MotoAccountID = "123456789012"
)

// KubeNode is the name of the bed's single (kwok) node.
const KubeNode = "gantry-node"

// Required reports whether missing peers must fail tests instead of skipping them.
func Required() bool { return os.Getenv(EnvRequired) == "1" }

// lookup returns the variable's value, or skips (fails when Required) naming it.
func lookup(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if Required() {
		t.Fatalf("%s not set although %s=1: the test bed did not export it", name, EnvRequired)
	}
	t.Skipf("%s not set: run scripts/test", name)
	return ""
}

// Docker returns the test dockerd's address (unix:///…/docker.sock) for DOCKER_HOST or
// client.WithHost.
func Docker(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvDockerHost)
}

// Registry returns the plain-http registry's host:port (127.0.0.1:PORT), usable as an
// image reference prefix.
func Registry(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvRegistry)
}

// ECREndpoint returns moto's base URL (http://127.0.0.1:PORT) to use as the AWS SDK's
// BaseEndpoint.
func ECREndpoint(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvECREndpoint)
}

// Kubeconfig returns the path of a kubeconfig for the test cluster (admin token).
func Kubeconfig(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvKubeconfig)
}

// Dir returns the bed's temp folder (logs, sockets, keys).
func Dir(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvBedDir)
}

// SSHPeer describes the sshd that stands in for the deploy host. Sessions there see
// DOCKER_HOST pointing at the test dockerd and a `microk8s` shim running kubectl against
// the test cluster.
type SSHPeer struct {
	Addr       string // host:port to dial
	Host       string
	Port       int
	User       string
	KeyFile    string // private key (unencrypted ed25519)
	KnownHosts string // known_hosts file holding the host key for [Host]:Port
}

// SSH returns the SSH peer; every field is set.
func SSH(t testing.TB) SSHPeer {
	t.Helper()
	p := SSHPeer{
		Addr:       lookup(t, EnvSSH),
		User:       lookup(t, EnvSSHUser),
		KeyFile:    lookup(t, EnvSSHKey),
		KnownHosts: lookup(t, EnvSSHKnownHosts),
	}
	host, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		t.Fatalf("%s=%q: %v", EnvSSH, p.Addr, err)
	}
	p.Host = host
	if p.Port, err = strconv.Atoi(port); err != nil {
		t.Fatalf("%s=%q: bad port: %v", EnvSSH, p.Addr, err)
	}
	return p
}

// ClientConfig returns an ssh.ClientConfig that authenticates with KeyFile and checks the
// host key against KnownHosts.
func (p SSHPeer) ClientConfig(t testing.TB) *ssh.ClientConfig {
	t.Helper()
	pem, err := os.ReadFile(p.KeyFile)
	if err != nil {
		t.Fatalf("read ssh key: %v", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatalf("parse ssh key %s: %v", p.KeyFile, err)
	}
	check, err := knownhosts.New(p.KnownHosts)
	if err != nil {
		t.Fatalf("load known_hosts %s: %v", p.KnownHosts, err)
	}
	return &ssh.ClientConfig{
		User:            p.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: check,
		Timeout:         10 * time.Second,
	}
}

// Dial connects to the SSH peer with ClientConfig and closes the client when the test ends.
func (p SSHPeer) Dial(t testing.TB) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", p.Addr, p.ClientConfig(t))
	if err != nil {
		t.Fatalf("ssh %s@%s: %v", p.User, p.Addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ResetMoto wipes every resource in moto (POST /moto-api/reset), so a test starts from
// an empty ECR. moto is shared by every package's tests and `go test ./...` runs packages
// in parallel, so this also wipes what other packages' tests are using: prefer unique
// repository names, and reset only in a test that cannot work otherwise.
func ResetMoto(t testing.TB) {
	t.Helper()
	endpoint := ECREndpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/moto-api/reset", nil)
	if err != nil {
		t.Fatalf("reset moto: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("reset moto: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		t.Fatalf("reset moto: %s: %s", resp.Status, body)
	}
}

// String describes the peer for log lines; it holds no secret (the key is a path).
func (p SSHPeer) String() string {
	return fmt.Sprintf("%s@%s (key %s, known_hosts %s)", p.User, p.Addr, p.KeyFile, p.KnownHosts)
}
