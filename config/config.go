// Package config loads gantry.toml, applies environment overrides and validates the
// result with errors that name the field and the fix.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// FileName is the project file gantry looks for at the app's root.
const FileName = "gantry.toml"

// Registry kinds.
const (
	KindECR       = "ecr"
	KindECRPublic = "ecr-public"
	KindOCI       = "oci"
	KindEmbedded  = "embedded"
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
	Kind       string `toml:"kind"`
	Region     string `toml:"region"`
	Repository string `toml:"repository"`
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
}

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
	// Host is the GitHub host (github.com or an Enterprise host).
	Host string `toml:"host"`
	// APIURL overrides the REST base URL (tests).
	APIURL string `toml:"api_url"`
	// TagFormat builds the release tag; {version} is replaced.
	TagFormat string `toml:"tag_format"`
}

// Duration is a time.Duration written as "90s" or "5m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"90s\" or \"5m\")", string(b))
	}
	d.Duration = v
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
			return &FieldError{Field: name, Problem: "unknown key " + strings.Join(keys, ", "), Fix: "remove it or check its spelling against the README's configuration reference"}
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return &FieldError{Field: fmt.Sprintf("%s:%d:%d", name, row, col), Problem: "malformed TOML: " + de.Error(), Fix: "fix the syntax at that line and column"}
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

func (c *Config) fillDefaults() {
	if c.App == "" {
		c.App = filepath.Base(c.Dir)
	}
	r := &c.Registry
	if r.Kind == "" {
		r.Kind = KindEmbedded
	}
	if r.Repository == "" {
		r.Repository = c.App
	}
	if r.Kind == KindECRPublic && r.Region == "" {
		r.Region = "us-east-1"
	}
	b := &c.Build
	if b.Dockerfile == "" {
		b.Dockerfile = "Dockerfile"
	}
	if b.Context == "" {
		b.Context = "."
	}
	if b.Cache == "" {
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
	defSSH(&d.SSH)
	if d.Container == "" {
		d.Container = "dev-app"
	}
	if d.Ports == "" {
		d.Ports = "8080:8000"
	}
	if d.HealthTimeout.Duration == 0 {
		d.HealthTimeout.Duration = 60 * time.Second
	}
	if d.Uptime.Duration == 0 {
		d.Uptime.Duration = 5 * time.Second
	}
	if d.KeepImages == 0 {
		d.KeepImages = 3
	}
	if d.LockTimeout.Duration == 0 {
		d.LockTimeout.Duration = 5 * time.Minute
	}
	if d.LockStale.Duration == 0 {
		d.LockStale.Duration = 30 * time.Minute
	}
	if d.DockerCommand == "" {
		d.DockerCommand = "docker"
	}
	p := &c.Prod
	defSSH(&p.SSH)
	if p.Kubectl == "" {
		p.Kubectl = "microk8s kubectl"
	}
	if p.DevBranch == "" {
		p.DevBranch = "dev"
	}
	if p.Manifest == "" {
		p.Manifest = "k8s/app-prod.yaml"
	}
	if p.Deployment == "" {
		p.Deployment = "django-app"
	}
	if p.Container == "" {
		p.Container = "django-container"
	}
	if p.RolloutTimeout.Duration == 0 {
		p.RolloutTimeout.Duration = 5 * time.Minute
	}
	if p.LockTimeout.Duration == 0 {
		p.LockTimeout.Duration = 5 * time.Minute
	}
	if p.LockStale.Duration == 0 {
		p.LockStale.Duration = 30 * time.Minute
	}
	g := &c.GitHub
	if g.Host == "" {
		g.Host = "github.com"
	}
	if g.TagFormat == "" {
		g.TagFormat = "{version}"
	}
}

func defSSH(s *SSH) {
	if s.Port == 0 {
		s.Port = 22
	}
	if s.User == "" {
		s.User = "ec2-user"
	}
	if s.KnownHosts == "" {
		if home, err := os.UserHomeDir(); err == nil {
			s.KnownHosts = filepath.Join(home, ".ssh", "known_hosts")
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
)

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
	}
	validSSH("dev", d.SSH)
	if !containerRe.MatchString(d.Container) {
		bad("dev.container", fmt.Sprintf("%q is not a container name", d.Container), "use letters, digits, _ . -, e.g. \"dev-app\"")
	}
	if m := portsRe.FindStringSubmatch(d.Ports); m == nil || !validPort(m[1]) || !validPort(m[2]) {
		bad("dev.ports", fmt.Sprintf("%q is not a host:container port map", d.Ports), "write it like \"8080:8000\"")
	}
	if d.HealthPath != "" && (!strings.HasPrefix(d.HealthPath, "/") || strings.ContainsAny(d.HealthPath, " \t\n'\"`$;&|<>\\")) {
		bad("dev.health_path", fmt.Sprintf("%q is not a URL path", d.HealthPath), "start it with / and leave out spaces and shell characters, e.g. \"/healthz\"")
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
	if !strings.Contains(g.TagFormat, "{version}") {
		bad("github.tag_format", fmt.Sprintf("%q does not contain {version}", g.TagFormat), "write it like \"{version}\" or \"v{version}\"")
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
