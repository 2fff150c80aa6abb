package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/pkg/jsonmessage"
)

// Auth is a registry login. Its Password never appears in String, logs or errors.
type Auth struct {
	Username      string
	Password      string
	ServerAddress string
}

// String shows the login without its password.
func (a Auth) String() string {
	pw := ""
	if a.Password != "" {
		pw = "***"
	}
	return fmt.Sprintf("Auth{Username: %q, Password: %q, ServerAddress: %q}", a.Username, pw, a.ServerAddress)
}

// GoString keeps %#v from printing the password.
func (a Auth) GoString() string { return a.String() }

// LogValue keeps slog from printing the password.
func (a Auth) LogValue() slog.Value { return slog.StringValue(a.String()) }

// header encodes the login as the X-Registry-Auth header value.
func (a Auth) header() (string, error) {
	return registry.EncodeAuthConfig(registry.AuthConfig{
		Username:      a.Username,
		Password:      a.Password,
		ServerAddress: a.ServerAddress,
	})
}

// Progress is a transfer's byte count summed over all layers.
type Progress struct {
	Done, Total int64
}

// Push uploads the local image ref (repository:tag) and returns the manifest
// digest the registry stored. progress and log may be nil.
func (e *Engine) Push(ctx context.Context, ref string, auth Auth, progress func(Progress), log func(string)) (string, error) {
	mask := newMasker(auth)
	hdr, err := auth.header()
	if err != nil {
		return "", mask.err("push "+ref, err)
	}
	layers := newLayerProgress(progress)
	if progress != nil {
		// Sizes of layers the registry already holds: the push stream omits them.
		layers.known = e.layerSizes(ctx, ref)
	}

	body, err := e.cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: hdr})
	if err != nil {
		return "", mask.err("push "+ref, err)
	}
	defer body.Close()

	var digest string
	statuses := newStatusLogger(mask.log(log))
	err = decodeMessages(ctx, body, func(m *jsonmessage.JSONMessage) error {
		if msg := messageError(m); msg != "" {
			return errors.New(msg)
		}
		statuses.status(m)
		layers.update(m, pushDone)
		if m.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
		}
		if digest == "" {
			if d := pushedDigest.FindStringSubmatch(m.Status); d != nil {
				digest = d[1]
			}
		}
		return nil
	})
	if err != nil {
		return "", mask.err("push "+ref, err)
	}
	if digest == "" {
		return "", fmt.Errorf("push %s: engine reported no digest", mask.text(ref))
	}
	layers.finish()
	return digest, nil
}

// pushedDigest matches the push's closing status ("1.0: digest: sha256:... size: 528").
var pushedDigest = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64}) size: \d+`)

// Pull downloads ref (repository:tag or repository@digest) into the engine.
// progress and log may be nil; an unknown reference gives an error wrapping ErrNotFound.
func (e *Engine) Pull(ctx context.Context, ref string, auth Auth, progress func(Progress), log func(string)) error {
	mask := newMasker(auth)
	hdr, err := auth.header()
	if err != nil {
		return mask.err("pull "+ref, err)
	}
	body, err := e.cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: hdr})
	if err != nil {
		return mask.err("pull "+ref, err)
	}
	defer body.Close()

	layers := newLayerProgress(progress)
	statuses := newStatusLogger(mask.log(log))
	err = decodeMessages(ctx, body, func(m *jsonmessage.JSONMessage) error {
		if msg := messageError(m); msg != "" {
			return errors.New(msg)
		}
		statuses.status(m)
		layers.update(m, pullDone)
		return nil
	})
	if err != nil {
		return mask.err("pull "+ref, err)
	}
	layers.finish()
	return nil
}

// layerSizes maps the push stream's layer IDs (short diff IDs) to their
// uncompressed sizes, the unit of push progress. It is best effort: nil when
// the image history cannot be matched to its layers unambiguously.
func (e *Engine) layerSizes(ctx context.Context, ref string) map[string]int64 {
	inspect, err := e.cli.ImageInspect(ctx, ref)
	if err != nil || len(inspect.RootFS.Layers) == 0 {
		return nil
	}
	history, err := e.cli.ImageHistory(ctx, ref)
	if err != nil {
		return nil
	}
	// History is newest first; entries without a layer have size 0, and so
	// may a real layer, so only an exact count lets the two be paired.
	var sizes []int64
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Size > 0 {
			sizes = append(sizes, history[i].Size)
		}
	}
	layers := inspect.RootFS.Layers
	if len(sizes) != len(layers) {
		if len(history) != len(layers) {
			return nil
		}
		sizes = sizes[:0]
		for i := len(history) - 1; i >= 0; i-- {
			sizes = append(sizes, history[i].Size)
		}
	}
	known := make(map[string]int64, len(layers))
	for i, diffID := range layers {
		known[shortID(diffID)] = sizes[i]
	}
	return known
}

// shortID is the engine's 12-character progress ID for a digest.
func shortID(digest string) string {
	if i := strings.IndexByte(digest, ':'); i >= 0 {
		digest = digest[i+1:]
	}
	if len(digest) > 12 {
		digest = digest[:12]
	}
	return digest
}

// doneRule says whether a status finishes a layer, and whether its size is
// already counted in the stream (false: look it up in the known sizes).
type doneRule func(status string) (done, sizeInStream bool)

func pushDone(status string) (bool, bool) {
	switch {
	case status == "Pushed":
		return true, true
	case status == "Layer already exists", strings.HasPrefix(status, "Mounted from"):
		return true, false
	}
	return false, false
}

func pullDone(status string) (bool, bool) {
	switch status {
	case "Download complete", "Pull complete":
		return true, true
	case "Already exists":
		return true, false
	}
	return false, false
}

// layerProgress sums per-layer progress into one Progress.
type layerProgress struct {
	report func(Progress)
	known  map[string]int64 // layer ID -> size, when known beforehand
	layers map[string]*Progress
	last   Progress
}

func newLayerProgress(report func(Progress)) *layerProgress {
	return &layerProgress{report: report, layers: map[string]*Progress{}}
}

func (p *layerProgress) update(m *jsonmessage.JSONMessage, rule doneRule) {
	if m.ID == "" || p.report == nil {
		return
	}
	l := p.layers[m.ID]
	changed := false
	if size, ok := p.known[m.ID]; ok && l == nil {
		// Counted from its first mention ("Preparing") so Total is stable from the start.
		l = &Progress{Total: size}
		p.layers[m.ID] = l
		changed = true
	}
	// Only transfer states carry layer sizes; other statuses may put a tag or
	// digest in ID, so a layer is tracked only once it transfers or finishes.
	done, inStream := rule(m.Status)
	transfer := m.Status == "Pushing" || m.Status == "Downloading"
	switch {
	case transfer && m.Progress != nil && m.Progress.Total > 0:
		if l == nil {
			l = &Progress{}
			p.layers[m.ID] = l
		}
		l.Total = m.Progress.Total
		l.Done = min(m.Progress.Current, l.Total)
		changed = true
	case done && inStream:
		if l == nil {
			// A layer too small to report any progress tick.
			l = &Progress{}
			p.layers[m.ID] = l
		}
		l.Done = l.Total
		changed = true
	case done:
		if l == nil {
			l = &Progress{} // size unknown: counts as 0 of 0
			p.layers[m.ID] = l
		}
		l.Done = l.Total
		changed = true
	}
	if changed {
		p.emit()
	}
}

func (p *layerProgress) emit() {
	var sum Progress
	for _, l := range p.layers {
		sum.Done += l.Done
		sum.Total += l.Total
	}
	if sum != p.last {
		p.last = sum
		p.report(sum)
	}
}

// finish marks every layer done once the transfer succeeded: the engine does
// not always send a final tick.
func (p *layerProgress) finish() {
	if p.report == nil {
		return
	}
	for _, l := range p.layers {
		l.Done = l.Total
	}
	p.emit()
}

// masker removes a login's secrets from text the engine sends back.
type masker struct {
	secrets []string
}

func newMasker(a Auth) *masker {
	m := &masker{}
	if a.Password != "" {
		m.secrets = append(m.secrets, a.Password)
		// Echoed in encoded form too, e.g. as a basic auth header or the X-Registry-Auth value.
		m.secrets = append(m.secrets,
			base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password)),
			base64.URLEncoding.EncodeToString([]byte(a.Password)),
			base64.StdEncoding.EncodeToString([]byte(a.Password)))
		if h, err := a.header(); err == nil {
			m.secrets = append(m.secrets, h)
		}
	}
	return m
}

func (m *masker) text(s string) string {
	for _, secret := range m.secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return s
}

// log wraps log (nil-safe) so every line is masked.
func (m *masker) log(log func(string)) func(string) {
	if log == nil {
		return func(string) {}
	}
	return func(line string) { log(m.text(line)) }
}

// err rebuilds err's text masked. The original is not kept in the chain, as
// unwrapping it would expose the unmasked text; its class survives as a sentinel.
func (m *masker) err(op string, err error) error {
	var kind error
	switch {
	case errors.Is(err, context.Canceled):
		kind = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		kind = context.DeadlineExceeded
	case cerrdefs.IsNotFound(err) || notFoundText(err.Error()):
		kind = ErrNotFound
	case cerrdefs.IsUnauthorized(err) || unauthorizedText(err.Error()):
		kind = ErrUnauthorized
	}
	return &maskedError{msg: m.text(op + ": " + err.Error()), kind: kind}
}

// notFoundText recognises a missing image or manifest reported inside the
// stream, where the engine gives no status code.
func notFoundText(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "manifest unknown") || strings.Contains(s, "does not exist") ||
		strings.Contains(s, "not found")
}

func unauthorizedText(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "unauthorized") || strings.Contains(s, "authentication required") ||
		strings.Contains(s, "denied")
}

// maskedError is an error whose text has had secrets removed.
type maskedError struct {
	msg  string
	kind error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.kind }
