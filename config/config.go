// Package config loads gantry.toml, applies environment overrides and validates the
// result with errors that name the field and the fix; it also names the environments
// (Env) and registry kinds (RegistryKind). It imports no gantry package.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// FileName is the project file gantry looks for at the app's root.
const FileName = "gantry.toml"

// RegistryKind names the kind of registry images live in (registry.kind).
type RegistryKind string

// Registry kinds.
const (
	KindECR       RegistryKind = "ecr"
	KindECRPublic RegistryKind = "ecr-public"
	KindOCI       RegistryKind = "oci"
	KindEmbedded  RegistryKind = "embedded"
)

// Dev target kinds.
const (
	TargetSSH   = "ssh"
	TargetLocal = "local"
)

// Config is the whole project configuration.
type Config struct {
	// App is the application's name; it names the repository when none is set.
	App      string   `toml:"app"`
	Registry Registry `toml:"registry"`
	Build    Build    `toml:"build"`
	Dev      Dev      `toml:"dev"`
	Prod     Prod     `toml:"prod"`
	GitHub   GitHub   `toml:"github"`

	// Dir is the app's root (where gantry.toml, pyproject.toml and the Dockerfile live).
	Dir string `toml:"-"`
	// File is the loaded gantry.toml, empty for the embedded default.
	File string `toml:"-"`
	// DataDir holds gantry's own state (embedded registry storage, caches).
	DataDir string `toml:"-"`
}

// Registry says where images live.
type Registry struct {
	// Kind is ecr, ecr-public, oci or embedded.
	Kind       RegistryKind `toml:"kind"`
	Region     string       `toml:"region"`
	Repository string       `toml:"repository"`
	// AccountID is the registry id for private ECR; empty means the caller's account.
	AccountID string `toml:"account_id"`
	// Endpoint overrides the ECR API endpoint (tests, VPC endpoints).
	Endpoint string `toml:"endpoint"`
	// Host overrides the registry host images are pushed to, e.g. 127.0.0.1:5000.
	Host string `toml:"host"`
	// Insecure talks plain HTTP to the registry; loopback hosts are always allowed.
	Insecure bool `toml:"insecure"`
	// Alias is the ECR Public registry alias (public.ecr.aws/<alias>/<repo>).
	Alias string `toml:"alias"`
}

// Build configures the image build.
type Build struct {
	Dockerfile string            `toml:"dockerfile"`
	Context    string            `toml:"context"`
	Target     string            `toml:"target"`
	Args       map[string]string `toml:"args"`
	Platform   string            `toml:"platform"`
	// Source is the org.opencontainers.image.source label (default: the git remote).
	Source string `toml:"source"`
	// Prepare is a shell command run in the app folder before the image build,
	// e.g. to compile assets. It comes from the project file, never from input.
	Prepare string `toml:"prepare"`
	// Secrets maps build secret ids (RUN --mount=type=secret,id=ID) to where
	// their values come from: "env:VAR" or "file:PATH" (~ is the home folder).
	Secrets map[string]string `toml:"secrets"`
	// Cache is where BuildKit's build cache lives beyond the engine: "registry"
	// (REPO:buildcache; the inline cache on engines that cannot export it),
	// "inline", "local" (a folder in the user's cache dir) or "off".
	// Default: registry for ecr and oci, off otherwise.
	Cache string `toml:"cache"`
}

// Build cache modes.
const (
	CacheRegistry = "registry"
	CacheInline   = "inline"
	CacheLocal    = "local"
	CacheOff      = "off"
)

// SSH says how to reach a host.
type SSH struct {
	Host string `toml:"host"`
	Port int    `toml:"port"`
	User string `toml:"user"`
	// Key is a private key file; GANTRY_SSH_KEY (key text) or ssh-agent also work.
	Key        string `toml:"key"`
	KnownHosts string `toml:"known_hosts"`
	// InsecureIgnoreHostKey skips host key checks. Only for throwaway hosts; gantry warns.
	InsecureIgnoreHostKey bool `toml:"insecure_ignore_host_key"`
	// SSHConfig is the ssh_config file to read host aliases from instead of
	// ~/.ssh/config and /etc/ssh/ssh_config (like ssh -F); "false" reads none.
	SSHConfig string `toml:"ssh_config"`
	// ProxyJump lists jump hosts, [user@]host[:port] separated by commas (ssh -J).
	ProxyJump string `toml:"proxy_jump"`

	// explicit records which keys the user set (file or environment), so
	// that only those override ssh_config; filled by defSSH.
	explicit map[string]bool
}

// SSHConfigOff is the ssh_config value that reads no ssh_config file.
const SSHConfigOff = "false"

// IsSet reports whether the user set key ("host", "port", "user", "key",
// "known_hosts", "proxy_jump") rather than leaving it to a default.
func (s SSH) IsSet(key string) bool {
	if s.explicit == nil {
		// Not through defSSH (built in code): every non-zero value counts.
		switch key {
		case "host":
			return s.Host != ""
		case "port":
			return s.Port != 0
		case "user":
			return s.User != ""
		case "key":
			return s.Key != ""
		case "known_hosts":
			return s.KnownHosts != ""
		case "proxy_jump":
			return s.ProxyJump != ""
		}
		return false
	}
	return s.explicit[key]
}

// Dev is the dev environment: one container on one host.
type Dev struct {
	// Target is ssh (an EC2 host) or local (this machine's Docker engine).
	Target string `toml:"target"`
	SSH
	Container     string   `toml:"container"`
	Ports         string   `toml:"ports"`
	HealthPath    string   `toml:"health_path"`
	HealthTimeout Duration `toml:"health_timeout"`
	// Uptime is how long the container must stay up when no health path is set.
	Uptime        Duration `toml:"uptime"`
	KeepImages    int      `toml:"keep_images"`
	LockTimeout   Duration `toml:"lock_timeout"`
	LockStale     Duration `toml:"lock_stale"`
	DockerCommand string   `toml:"docker"`
	// Switch is how a deploy hands the host port to the new container: "direct" (the
	// app container publishes the port: stop old, start new) or "proxy" (a Caddy
	// container owns the port and switches upstream once the new one is healthy).
	Switch string `toml:"switch"`
	// ProxyImage is the proxy container's image in proxy mode.
	ProxyImage string `toml:"proxy_image"`
	// Drain is how long the previous container keeps serving in-flight requests after
	// the proxy switched away from it, before it is stopped.
	Drain Duration `toml:"drain"`
}

// Switch modes of dev.switch.
const (
	SwitchDirect = "direct"
	SwitchProxy  = "proxy"
)

// Prod is the prod environment: a Kubernetes deployment reached over SSH.
type Prod struct {
	SSH
	Kubectl        string   `toml:"kubectl"`
	Manifest       string   `toml:"manifest"`
	Namespace      string   `toml:"namespace"`
	Deployment     string   `toml:"deployment"`
	Container      string   `toml:"container"`
	RolloutTimeout Duration `toml:"rollout_timeout"`
	UndoOnFailure  *bool    `toml:"undo_on_failure"`
	// PinDigest sets the image as repo:tag@digest so pods run exactly the promoted bytes.
	PinDigest *bool `toml:"pin_digest"`
	// DevBranch is where dev snapshots are built; after a squash merge its recent
	// commits are searched for one with HEAD's tree.
	DevBranch   string   `toml:"dev_branch"`
	LockTimeout Duration `toml:"lock_timeout"`
	LockStale   Duration `toml:"lock_stale"`
}

// GitHub names the repository releases are created in.
type GitHub struct {
	Repo string `toml:"repo"`
	// Host is the GitHub host (github.com or an Enterprise host); unset,
	// it comes from GH_HOST or GITHUB_SERVER_URL, else github.com.
	Host string `toml:"host"`
	// APIURL overrides the REST base URL (tests; unset on Enterprise
	// Server under Actions, it comes from GITHUB_API_URL).
	APIURL string `toml:"api_url"`
	// TagFormat builds the release tag; {version} is replaced.
	TagFormat string `toml:"tag_format"`
	// Deployments makes dev and promote report to GitHub deployments; unset, it is
	// on under GitHub Actions (GITHUB_ACTIONS=true) and off elsewhere.
	Deployments *bool `toml:"deployments"`
	// DevEnvironment and ProdEnvironment name the GitHub environments.
	DevEnvironment  string `toml:"dev_environment"`
	ProdEnvironment string `toml:"prod_environment"`
	// ProdURL is the prod deployment's environment URL; unset, the release's page.
	ProdURL string `toml:"prod_url"`
	// Actions is the GitHub Actions run gantry runs in, read from GITHUB_* (zero
	// unless GITHUB_ACTIONS=true).
	Actions ActionsRun `toml:"-"`
}

// ActionsRun is what a GitHub Actions run says about itself.
type ActionsRun struct {
	// ServerURL, Repository and RunID make the run's page.
	ServerURL, Repository, RunID string
	// SHA is GITHUB_SHA, the commit the run is for.
	SHA string
}

// Duration is a time.Duration written as "90s" or "5m" in TOML.
type Duration struct {
	time.Duration
	// set is true once a value was read (so an explicit "0s" is not taken for unset).
	set bool
}

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"90s\" or \"5m\")", string(b))
	}
	d.Duration, d.set = v, true
	return nil
}

// MarshalText writes the duration as Go does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Enabled reports the value of an optional flag, with its default.
func Enabled(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// ErrInvalid marks configuration errors (exit status 2).
var ErrInvalid = errors.New("invalid configuration")

// FieldError names a field, what is wrong with it, and how to fix it.
type FieldError struct {
	Field   string
	Problem string
	Fix     string
}

func (e *FieldError) Error() string {
	if e.Fix == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Problem)
	}
	return fmt.Sprintf("%s: %s; %s", e.Field, e.Problem, e.Fix)
}

// Is makes every FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Options are the inputs besides the file.
type Options struct {
	// Dir is where to look for gantry.toml (default: the working directory).
	Dir string
	// File is an explicit config file path.
	File string
	// Env looks up environment variables (default os.LookupEnv).
	Env func(string) (string, bool)
}

// Load reads the config for the app in opts.Dir, applies environment overrides,
// fills defaults and validates. With no gantry.toml the embedded default applies.
func Load(opts Options) (*Config, error) {
	env := opts.Env
	if env == nil {
		env = os.LookupEnv
	}
	dir := opts.Dir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		dir = wd
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil, &FieldError{Field: "--dir", Problem: fmt.Sprintf("%s is not a directory", dir), Fix: "point --dir at the app's root"}
	}
	file := opts.File
	if file == "" {
		if v, ok := env("GANTRY_CONFIG"); ok && v != "" {
			file = v
		}
	}
	if file == "" {
		cand := filepath.Join(dir, FileName)
		if _, err := os.Stat(cand); err == nil {
			file = cand
		}
	}
	cfg := &Config{Dir: dir}
	if file != "" {
		if err := decodeFile(file, cfg); err != nil {
			return nil, err
		}
		cfg.File = file
	} else {
		cfg.applyEmbeddedDefault()
	}
	if err := applyEnv(cfg, env); err != nil {
		return nil, err
	}
	if cfg.GitHub.Repo == "" {
		// GitHub Actions names the repository it runs for.
		if v, ok := env("GITHUB_REPOSITORY"); ok {
			cfg.GitHub.Repo = v
		}
	}
	if err := cfg.GitHub.fromEnv(env); err != nil {
		return nil, err
	}
	cfg.DataDir = dataDir(env)
	cfg.fillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse decodes TOML text into a validated Config rooted at dir (no env overrides).
func Parse(data []byte, dir string) (*Config, error) {
	cfg := &Config{Dir: dir}
	if err := decode(data, FileName, cfg); err != nil {
		return nil, err
	}
	cfg.fillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func decodeFile(file string, cfg *Config) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return &FieldError{Field: "--config", Problem: fmt.Sprintf("cannot read %s: %v", file, errors.Unwrap(err)), Fix: "check the path and its permissions"}
	}
	return decode(data, file, cfg)
}

func decode(data []byte, name string, cfg *Config) error {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		var se *toml.StrictMissingError
		if errors.As(err, &se) {
			var keys []string
			for _, e := range se.Errors {
				row, col := e.Position()
				keys = append(keys, fmt.Sprintf("%s (line %d, column %d)", strings.Join(e.Key(), "."), row, col))
			}
			fix := "remove it or check its spelling against the README's configuration reference"
			if len(se.Errors) == 1 {
				if near := nearestKey(strings.Join(se.Errors[0].Key(), ".")); near != "" {
					fix = fmt.Sprintf("did you mean %s? Otherwise remove it (see the README's configuration reference)", near)
				}
			}
			return &FieldError{Field: name, Problem: "unknown key " + strings.Join(keys, ", "), Fix: fix}
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			if key := strings.Join(de.Key(), "."); key != "" {
				// The syntax is fine, the value has the wrong type for its field.
				return valueError(key, fmt.Sprintf("%s:%d:%d", name, row, col), de)
			}
			return &FieldError{Field: fmt.Sprintf("%s:%d:%d", name, row, col), Problem: "malformed TOML: " + de.Error(), Fix: "fix the syntax at that line and column"}
		}
		if fe := findBadValue(data, name); fe != nil {
			return fe
		}
		return &FieldError{Field: name, Problem: err.Error(), Fix: "check the value's type against the README's configuration reference"}
	}
	return nil
}

// applyEmbeddedDefault sets up the no-account local mode: embedded registry, local engine.
func (c *Config) applyEmbeddedDefault() {
	c.Registry.Kind = KindEmbedded
	c.Dev.Target = TargetLocal
}

func dataDir(env func(string) (string, bool)) string {
	if v, ok := env("GANTRY_DATA_DIR"); ok && v != "" {
		return v
	}
	if v, ok := env("XDG_DATA_HOME"); ok && v != "" {
		return filepath.Join(v, "gantry")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "gantry")
	}
	return filepath.Join(home, ".local", "share", "gantry")
}

// defaults are the values a field takes when neither the file nor the environment
// sets it, declared once and applied by fillDefaults. envDefaults apply to dev.<key>
// and prod.<key> alike (SSH and the deploy lock). Defaults that depend on other fields
// (repository, dev.target, known_hosts, the ECR Public region) are derived in fillDefaults.
var (
	defaults = []fieldDefault{
		{"registry.kind", string(KindEmbedded)},
		{"build.dockerfile", "Dockerfile"},
		{"build.context", "."},
		{"dev.container", "dev-app"},
		{"dev.ports", "8080:8000"},
		{"dev.health_timeout", "60s"},
		{"dev.uptime", "5s"},
		{"dev.keep_images", "3"},
		{"dev.docker", "docker"},
		{"dev.switch", SwitchDirect},
		{"dev.proxy_image", "caddy:2"},
		{"dev.drain", "5s"},
		{"prod.kubectl", "microk8s kubectl"},
		{"prod.dev_branch", "dev"},
		{"prod.manifest", "k8s/app-prod.yaml"},
		{"prod.deployment", "django-app"},
		{"prod.container", "django-container"},
		{"prod.rollout_timeout", "5m"},
		{"github.host", "github.com"},
		{"github.tag_format", "{version}"},
		{"github.dev_environment", "dev"},
		{"github.prod_environment", "production"},
	}
	envDefaults = []fieldDefault{
		{"port", "22"},
		{"user", "ec2-user"},
		{"lock_timeout", "5m"},
		{"lock_stale", "30m"},
	}
)

type fieldDefault struct{ field, value string }

// defaultOf returns the declared default of a dotted field ("" when none).
func defaultOf(field string) string {
	for _, d := range defaults {
		if d.field == field {
			return d.value
		}
	}
	if env, key, ok := strings.Cut(field, "."); ok && (env == "dev" || env == "prod") {
		for _, d := range envDefaults {
			if d.field == key {
				return d.value
			}
		}
	}
	return ""
}

func (c *Config) fillDefaults() {
	if c.App == "" {
		c.App = filepath.Base(c.Dir)
	}
	// What the user set wins over ssh_config; record it before defaults fill the rest.
	for _, s := range []*SSH{&c.Dev.SSH, &c.Prod.SSH} {
		s.explicit = map[string]bool{
			"host": s.Host != "", "port": s.Port != 0, "user": s.User != "", "key": s.Key != "",
			"known_hosts": s.KnownHosts != "", "proxy_jump": s.ProxyJump != "",
		}
	}
	walk(reflect.ValueOf(c).Elem(), "", func(field string, v reflect.Value) {
		if def := defaultOf(field); def != "" && v.IsZero() {
			if err := setValue(v, def); err != nil {
				panic(fmt.Sprintf("config: the default of %s (%q): %v", field, def, err))
			}
		}
	})
	r := &c.Registry
	if r.Repository == "" {
		r.Repository = c.App
	}
	if r.Kind == KindECRPublic && r.Region == "" {
		r.Region = "us-east-1"
	}
	// The build cache depends on the registry kind: a registry cache where the registry
	// is the team's own (ECR, OCI), none for the embedded default and ECR Public.
	if b := &c.Build; b.Cache == "" {
		b.Cache = CacheOff
		if r.Kind == KindECR || r.Kind == KindOCI {
			b.Cache = CacheRegistry
		}
	}
	d := &c.Dev
	if d.Target == "" {
		if d.Host == "" {
			d.Target = TargetLocal
		} else {
			d.Target = TargetSSH
		}
	}
	for _, s := range []*SSH{&c.Dev.SSH, &c.Prod.SSH} {
		if s.KnownHosts == "" {
			if home, err := os.UserHomeDir(); err == nil {
				s.KnownHosts = filepath.Join(home, ".ssh", "known_hosts")
			}
		}
	}
}

var (
	nameRe      = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)
	regionRe    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	hostRe      = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$`)
	identRe     = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
	containerRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	portsRe     = regexp.MustCompile(`^(\d{1,5}):(\d{1,5})$`)
	repoRe      = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	accountRe   = regexp.MustCompile(`^\d{12}$`)
	proxyJumpRe = regexp.MustCompile(`^(ssh://)?([a-z_][a-z0-9_.-]*@)?([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?(,(ssh://)?([a-z_][a-z0-9_.-]*@)?([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?)*$`)
	// healthPathRe is a plain URL path: RFC 3986 path characters without ; $ & ' ( ),
	// percent escapes only as %XX, and at most a simple query (name=value pairs joined
	// by &). No whitespace, control characters, quotes, brackets, braces or fragment: the
	// probe's URL must mean the same to curl (which gets --globoff) and to a shell.
	healthPathRe = regexp.MustCompile(`^/(?:[A-Za-z0-9\-._~/:@!,+=*]|%[0-9A-Fa-f]{2})*(?:\?(?:[A-Za-z0-9\-._~/:@!,+=*&]|%[0-9A-Fa-f]{2})*)?$`)
)

// expandTilde expands a leading ~/ to the home folder.
func expandTilde(p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	return p
}

// Validate checks every field and returns all problems at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, problem, fix string) {
		errs = append(errs, &FieldError{Field: field, Problem: problem, Fix: fix})
	}
	r := c.Registry
	switch r.Kind {
	case KindECR:
		if r.Region == "" {
			bad("registry.region", "is required for kind \"ecr\"", "set it to the repository's AWS region, e.g. region = \"eu-west-1\"")
		}
		if r.AccountID != "" && !accountRe.MatchString(r.AccountID) {
			bad("registry.account_id", fmt.Sprintf("%q is not a 12-digit AWS account id", r.AccountID), "use the 12 digits of the account, or leave it empty for the caller's account")
		}
	case KindECRPublic, KindEmbedded:
	case KindOCI:
		if r.Host == "" {
			bad("registry.host", "is required for kind \"oci\"", "set it to the registry's host[:port], e.g. host = \"registry.example.com\"")
		}
	default:
		bad("registry.kind", fmt.Sprintf("%q is not a registry kind", r.Kind), "use one of \"ecr\", \"ecr-public\", \"oci\" or \"embedded\"")
	}
	if r.Region != "" && !regionRe.MatchString(r.Region) {
		bad("registry.region", fmt.Sprintf("%q is not an AWS region", r.Region), "write it like \"eu-west-1\"")
	}
	if !nameRe.MatchString(r.Repository) || len(r.Repository) > 256 {
		bad("registry.repository", fmt.Sprintf("%q is not a valid repository name", r.Repository), "use lower-case letters, digits and . _ - /, e.g. repository = \"book-shop\"")
	}
	if r.Host != "" && !hostRe.MatchString(r.Host) {
		bad("registry.host", fmt.Sprintf("%q is not a host[:port]", r.Host), "write it like \"123456789012.dkr.ecr.eu-west-1.amazonaws.com\" or \"127.0.0.1:5000\", without a scheme")
	}
	if r.Endpoint != "" && !strings.HasPrefix(r.Endpoint, "http://") && !strings.HasPrefix(r.Endpoint, "https://") {
		bad("registry.endpoint", fmt.Sprintf("%q is not a URL", r.Endpoint), "write it with its scheme, e.g. \"https://api.ecr.eu-west-1.amazonaws.com\"")
	}
	if r.Alias != "" && !identRe.MatchString(r.Alias) {
		bad("registry.alias", fmt.Sprintf("%q is not a registry alias", r.Alias), "use lower-case letters, digits, . and -")
	}
	if strings.Contains(c.Build.Dockerfile, "..") || filepath.IsAbs(c.Build.Dockerfile) {
		bad("build.dockerfile", fmt.Sprintf("%q must stay inside the app folder", c.Build.Dockerfile), "give a path relative to the build context, e.g. \"Dockerfile\"")
	}
	for k := range c.Build.Args {
		if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(k) {
			bad("build.args."+k, "is not a valid build argument name", "use letters, digits and _")
		}
	}
	switch c.Build.Cache {
	case CacheRegistry, CacheInline, CacheLocal, CacheOff:
	default:
		bad("build.cache", fmt.Sprintf("%q is not a build cache mode", c.Build.Cache), "use \"registry\", \"inline\", \"local\" or \"off\"")
	}
	for id, src := range c.Build.Secrets {
		if !regexp.MustCompile(`^[A-Za-z0-9_.-]+$`).MatchString(id) {
			bad("build.secrets."+id, "is not a valid secret id", "use letters, digits and . _ -, as in RUN --mount=type=secret,id=pip_token")
		}
		kind, ref, _ := strings.Cut(src, ":")
		switch {
		case kind == "env" && regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(ref):
		case kind == "file" && ref != "":
		default:
			bad("build.secrets."+id, fmt.Sprintf("%q says neither an environment variable nor a file", src), "write \"env:VAR\" or \"file:PATH\", e.g. \"env:PIP_TOKEN\" or \"file:~/.npmrc\"")
		}
	}
	d := c.Dev
	switch d.Target {
	case TargetLocal:
	case TargetSSH:
		if d.Host == "" {
			bad("dev.host", "is required when dev.target is \"ssh\"", "set it to the EC2 host's name or address, or set target = \"local\"")
		}
	default:
		bad("dev.target", fmt.Sprintf("%q is not a dev target", d.Target), "use \"ssh\" or \"local\"")
	}
	validSSH := func(prefix string, s SSH) {
		if s.Host != "" && !hostRe.MatchString(s.Host) {
			bad(prefix+".host", fmt.Sprintf("%q is not a host name or address", s.Host), "write the host alone, e.g. \"ec2-1-2-3-4.compute.amazonaws.com\"; the port goes in "+prefix+".port")
		}
		if s.Port < 1 || s.Port > 65535 {
			bad(prefix+".port", fmt.Sprintf("%d is not a TCP port", s.Port), "use 1-65535 (22 by default)")
		}
		if !regexp.MustCompile(`^[a-z_][a-z0-9_.-]*$`).MatchString(s.User) {
			bad(prefix+".user", fmt.Sprintf("%q is not a user name", s.User), "use the login user, e.g. \"ec2-user\" or \"ubuntu\"")
		}
		if s.ProxyJump != "" && !proxyJumpRe.MatchString(s.ProxyJump) {
			bad(prefix+".proxy_jump", fmt.Sprintf("%q is not a list of jump hosts", s.ProxyJump), "write [user@]host[:port], several separated by commas, e.g. \"ec2-user@bastion.example.com\"")
		}
		if s.SSHConfig != "" && s.SSHConfig != SSHConfigOff {
			if st, err := os.Stat(expandTilde(s.SSHConfig)); err != nil || st.IsDir() {
				bad(prefix+".ssh_config", fmt.Sprintf("%q is not a readable file", s.SSHConfig), "point it at an ssh_config file, or set it to \"false\" to read none (default: ~/.ssh/config and /etc/ssh/ssh_config)")
			}
		}
	}
	validSSH("dev", d.SSH)
	if !containerRe.MatchString(d.Container) {
		bad("dev.container", fmt.Sprintf("%q is not a container name", d.Container), "use letters, digits, _ . -, e.g. \"dev-app\"")
	}
	if m := portsRe.FindStringSubmatch(d.Ports); m == nil || !validPort(m[1]) || !validPort(m[2]) {
		bad("dev.ports", fmt.Sprintf("%q is not a host:container port map", d.Ports), "write it like \"8080:8000\"")
	}
	if d.HealthPath != "" && !healthPathRe.MatchString(d.HealthPath) {
		bad("dev.health_path", fmt.Sprintf("%q is not a plain URL path", d.HealthPath),
			"start it with / and use letters, digits and - . _ ~ / % : @ ! , + = * (a simple ?query may add &; no spaces, quotes, brackets, braces or #), e.g. \"/healthz\"")
	}
	for _, f := range []struct {
		field string
		d     Duration
	}{
		{"dev.health_timeout", d.HealthTimeout}, {"dev.uptime", d.Uptime}, {"dev.lock_timeout", d.LockTimeout}, {"dev.lock_stale", d.LockStale},
		{"prod.rollout_timeout", c.Prod.RolloutTimeout}, {"prod.lock_timeout", c.Prod.LockTimeout}, {"prod.lock_stale", c.Prod.LockStale},
	} {
		if f.d.Duration <= 0 {
			example := defaultOf(f.field)
			bad(f.field, fmt.Sprintf("%q must be a positive duration like %q", f.d.Duration.String(), example), fmt.Sprintf("write a positive duration, e.g. %s = %q (the default)", f.field[strings.Index(f.field, ".")+1:], example))
		}
	}
	if d.Switch != SwitchDirect && d.Switch != SwitchProxy {
		bad("dev.switch", fmt.Sprintf("%q is not a switch mode", d.Switch), "use \"direct\" (the container publishes the port) or \"proxy\" (a Caddy proxy owns the port: zero-downtime deploys)")
	}
	if d.Switch == SwitchProxy && (strings.TrimSpace(d.ProxyImage) == "" || strings.ContainsAny(d.ProxyImage, " \t\n'\"`$;&|<>\\")) {
		bad("dev.proxy_image", fmt.Sprintf("%q is not an image reference", d.ProxyImage), "name the Caddy image, e.g. \"caddy:2\" (the default)")
	}
	if d.Drain.Duration < 0 {
		bad("dev.drain", fmt.Sprintf("%q is negative", d.Drain.Duration.String()), "write a duration, e.g. drain = \"5s\" (the default), or \"0s\" to stop the old container right after the switch")
	}
	if d.KeepImages < 1 {
		bad("dev.keep_images", fmt.Sprintf("%d keeps no image for rollback", d.KeepImages), "use 1 or more (3 by default)")
	}
	p := c.Prod
	validSSH("prod", p.SSH)
	if strings.TrimSpace(p.Kubectl) == "" || strings.ContainsAny(p.Kubectl, "'\"`$;&|<>\\\n") {
		bad("prod.kubectl", fmt.Sprintf("%q is not a plain command", p.Kubectl), "use words only, e.g. \"microk8s kubectl\" or \"kubectl --context prod\"")
	}
	if strings.HasPrefix(p.DevBranch, "-") || strings.ContainsAny(p.DevBranch, " \t\n~^:?*[\\") {
		bad("prod.dev_branch", fmt.Sprintf("%q is not a branch name", p.DevBranch), "write the branch name alone, e.g. \"dev\"")
	}
	if p.Namespace != "" && !identRe.MatchString(p.Namespace) {
		bad("prod.namespace", fmt.Sprintf("%q is not a namespace name", p.Namespace), "use lower-case letters, digits and -")
	}
	if !identRe.MatchString(p.Deployment) {
		bad("prod.deployment", fmt.Sprintf("%q is not a deployment name", p.Deployment), "use lower-case letters, digits, . and -, e.g. \"django-app\"")
	}
	if !identRe.MatchString(p.Container) {
		bad("prod.container", fmt.Sprintf("%q is not a container name", p.Container), "use lower-case letters, digits and -, e.g. \"django-container\"")
	}
	if strings.Contains(p.Manifest, "..") || filepath.IsAbs(p.Manifest) {
		bad("prod.manifest", fmt.Sprintf("%q must stay inside the app folder", p.Manifest), "give a path relative to the app, e.g. \"k8s/app-prod.yaml\"")
	}
	g := c.GitHub
	if g.Repo != "" && !repoRe.MatchString(g.Repo) {
		bad("github.repo", fmt.Sprintf("%q is not owner/name", g.Repo), "write it like \"acme/book-shop\"")
	}
	if !validGitHubHost(g.Host) {
		bad("github.host", fmt.Sprintf("%q is not a host name", g.Host), "write the bare host, e.g. \"github.com\" or \"github.example.com\" (the API address goes in github.api_url)")
	}
	if !strings.Contains(g.TagFormat, "{version}") {
		bad("github.tag_format", fmt.Sprintf("%q does not contain {version}", g.TagFormat), "write it like \"{version}\" or \"v{version}\"")
	}
	if g.ProdURL != "" && !strings.HasPrefix(g.ProdURL, "http://") && !strings.HasPrefix(g.ProdURL, "https://") {
		bad("github.prod_url", fmt.Sprintf("%q is not a URL", g.ProdURL), "write it with its scheme, e.g. \"https://shop.example.com\"")
	}
	if g.APIURL != "" && !strings.HasPrefix(g.APIURL, "http://") && !strings.HasPrefix(g.APIURL, "https://") {
		bad("github.api_url", fmt.Sprintf("%q is not a URL", g.APIURL), "write it with its scheme, e.g. \"https://api.github.com\"")
	}
	return errors.Join(errs...)
}

func validPort(s string) bool {
	var n int
	fmt.Sscanf(s, "%d", &n)
	return n >= 1 && n <= 65535
}

// Path resolves a path relative to the app's root.
func (c *Config) Path(rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(c.Dir, rel)
}

// Embedded reports whether gantry runs on its no-account local default.
func (c *Config) Embedded() bool { return c.Registry.Kind == KindEmbedded }
