package githubtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// EnvOpenAPI names GitHub's published OpenAPI description: the file
// api.github.com.json of the npm package @octokit/openapi, or a folder
// holding it (the package, or an npm prefix it was installed into).
const EnvOpenAPI = "GANTRY_TEST_OPENAPI"

func openAPIFile(t *testing.T) string {
	t.Helper()
	v := os.Getenv(EnvOpenAPI)
	if v == "" {
		if testbed.Required() {
			t.Fatalf("%s not set although %s=1: the test bed did not install @octokit/openapi", EnvOpenAPI, testbed.EnvRequired)
		}
		t.Skipf("%s not set: install @octokit/openapi and point it at generated/api.github.com.json", EnvOpenAPI)
	}
	for _, p := range []string{v, filepath.Join(v, "generated", "api.github.com.json"),
		filepath.Join(v, "node_modules", "@octokit", "openapi", "generated", "api.github.com.json")} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	t.Fatalf("%s=%s: no api.github.com.json there", EnvOpenAPI, v)
	return ""
}

// spec is the parsed description.
type spec struct{ doc map[string]any }

var (
	specOnce   sync.Once
	specCached *spec
	specErr    error
)

// loadSpec parses the description once per test binary (it is 13 MB).
func loadSpec(t *testing.T) *spec {
	t.Helper()
	file := openAPIFile(t)
	specOnce.Do(func() { specCached, specErr = parseSpec(file) })
	if specErr != nil {
		t.Fatal(specErr)
	}
	return specCached
}

func parseSpec(file string) (*spec, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse OpenAPI description %s: %w", file, err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		return nil, fmt.Errorf("OpenAPI description %s has version %q, want 3.x", file, v)
	}
	return &spec{doc: doc}, nil
}

// operation returns paths[pattern][method], or nil.
func (sp *spec) operation(method, pattern string) map[string]any {
	paths, _ := sp.doc["paths"].(map[string]any)
	item, _ := paths[pattern].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	return op
}

// deref follows a local $ref ("#/components/schemas/release").
func (sp *spec) deref(m map[string]any) map[string]any {
	for range 16 {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = sp.doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			node, _ := cur.(map[string]any)
			cur = node[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
		}
		next, ok := cur.(map[string]any)
		if !ok {
			return map[string]any{}
		}
		m = next
	}
	return m
}

// responseSchema is the JSON schema of op's answer with status, and
// whether the description documents that status at all.
func (sp *spec) responseSchema(op map[string]any, status int) (schema map[string]any, documented bool) {
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(status)].(map[string]any)
	if !ok {
		return nil, false
	}
	resp = sp.deref(resp)
	content, _ := resp["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	schema, _ = media["schema"].(map[string]any)
	return schema, true
}

// check validates v against schema: types, nullability, enums, required
// properties, date-times, recursively. It is a subset of JSON Schema, enough
// to catch a fake that answers what GitHub does not.
func (sp *spec) check(at string, schema map[string]any, v any, depth int) []string {
	if schema == nil || depth > 40 {
		return nil
	}
	schema = sp.deref(schema)
	var probs []string
	if all, ok := schema["allOf"].([]any); ok {
		for _, s := range all {
			sub, _ := s.(map[string]any)
			probs = append(probs, sp.check(at, sub, v, depth+1)...)
		}
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		alts, ok := schema[key].([]any)
		if !ok {
			continue
		}
		var first []string
		matched := false
		for i, s := range alts {
			sub, _ := s.(map[string]any)
			p := sp.check(at, sub, v, depth+1)
			if len(p) == 0 {
				matched = true
				break
			}
			if i == 0 {
				first = p
			}
		}
		if !matched && !(v == nil && schema["nullable"] == true) {
			probs = append(probs, fmt.Sprintf("%s: matches none of %s (first: %s)", at, key, strings.Join(first, "; ")))
		}
	}
	if v == nil {
		if schema["nullable"] == true || schema["type"] == nil {
			return probs
		}
		if types, ok := schema["type"].([]any); ok && containsAny(types, "null") {
			return probs
		}
		return append(probs, fmt.Sprintf("%s: null, but the schema is not nullable", at))
	}
	typ := schema["type"]
	if types, ok := typ.([]any); ok { // 3.1 style
		for _, tv := range types {
			if tv != "null" {
				typ = tv
			}
		}
	}
	switch typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return append(probs, fmt.Sprintf("%s: %T, want object", at, v))
		}
		req, _ := schema["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				probs = append(probs, fmt.Sprintf("%s: lacks required property %q", at, r))
			}
		}
		props, _ := schema["properties"].(map[string]any)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]any); ok {
				probs = append(probs, sp.check(at+"."+k, ps, obj[k], depth+1)...)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return append(probs, fmt.Sprintf("%s: %T, want array", at, v))
		}
		items, _ := schema["items"].(map[string]any)
		for i, e := range arr {
			probs = append(probs, sp.check(fmt.Sprintf("%s[%d]", at, i), items, e, depth+1)...)
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			return append(probs, fmt.Sprintf("%s: %T, want string", at, v))
		}
		if enum, ok := schema["enum"].([]any); ok && !containsAny(enum, s) {
			probs = append(probs, fmt.Sprintf("%s: %q not in %v", at, s, enum))
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				probs = append(probs, fmt.Sprintf("%s: %q is not a date-time", at, s))
			}
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			return append(probs, fmt.Sprintf("%s: %v, want integer", at, v))
		}
	case "number":
		if _, ok := v.(float64); !ok {
			return append(probs, fmt.Sprintf("%s: %T, want number", at, v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return append(probs, fmt.Sprintf("%s: %T, want boolean", at, v))
		}
	}
	return probs
}

func containsAny(list []any, v any) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// TestRoutesInOpenAPI: every route the fake serves is an operation of
// GitHub's description, and the undocumented ones really are absent.
func TestRoutesInOpenAPI(t *testing.T) {
	sp := loadSpec(t)
	for _, rt := range routes {
		op := sp.operation(rt.method, rt.pattern)
		switch {
		case rt.undocumented == "" && op == nil:
			t.Errorf("%s %s: no such operation in GitHub's OpenAPI description", rt.method, rt.pattern)
		case rt.undocumented != "" && op != nil:
			t.Errorf("%s %s is marked undocumented (%s) but the description has it (%v)", rt.method, rt.pattern, rt.undocumented, op["operationId"])
		}
	}
}

// TestRoutesInGHESOpenAPI: GitHub Enterprise Server (the newest release
// the package describes) serves every documented route too, under /api/v3.
func TestRoutesInGHESOpenAPI(t *testing.T) {
	dotcom := openAPIFile(t)
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(dotcom), "ghes-3.*.json"))
	var newest string
	best := -1
	for _, f := range files {
		var minor int
		if _, err := fmt.Sscanf(filepath.Base(f), "ghes-3.%d.json", &minor); err == nil && !strings.Contains(f, "deref") && minor > best {
			best, newest = minor, f
		}
	}
	if newest == "" {
		t.Fatalf("no ghes-3.*.json next to %s", dotcom)
	}
	sp, err := parseSpec(newest)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range routes {
		if rt.undocumented == "" && sp.operation(rt.method, rt.pattern) == nil {
			t.Errorf("%s %s: not in %s", rt.method, rt.pattern, filepath.Base(newest))
		}
	}
}

// exchange is one request to the fake and the operation it answers.
type exchange struct {
	name    string
	method  string
	path    string // under the API base
	body    any
	pattern string // the operation's template in the description
	status  int    // the answer the scenario expects
}

// TestResponsesMatchOpenAPI drives the main operations and validates each
// answer's status and body against the description's response schema.
func TestResponsesMatchOpenAPI(t *testing.T) {
	sp := loadSpec(t)
	const full = "bookshop-ops/book-shop"
	commit := func(n int) string { return fmt.Sprintf("%040x", 0xabc000+n) }
	s := New(t)
	s.AddRepo(full, true)
	for i := 1; i <= 4; i++ {
		s.AddCommit(full, commit(i))
	}
	s.AddPR(full, 7, "Add the cart", "alice", commit(2))
	s.AddRelease(full, Release{TagName: "1.0.0", TargetCommitish: commit(1), Name: "1.0.0", Body: "first"})
	obj := s.AddAnnotatedTag(full, "0.9.0", commit(1))
	s.AddDeployment(full, Deployment{SHA: commit(3), Ref: "main", Environment: "production", App: ActionsApp, Creator: "github-actions[bot]",
		Statuses: []DeploymentStatus{{State: "in_progress", LogURL: "https://github.com/bookshop-ops/book-shop/actions/runs/42/job/7"}}})
	var repoID int64
	for _, r := range s.repos {
		repoID = r.id
	}

	repo := "/repos/" + full
	rp := "/repos/{owner}/{repo}"
	steps := []exchange{
		{"get repo", "GET", repo, nil, rp, 200},
		{"latest", "GET", repo + "/releases/latest", nil, rp + "/releases/latest", 200},
		{"generate notes", "POST", repo + "/releases/generate-notes", map[string]any{"tag_name": "1.1.0", "target_commitish": commit(3), "previous_tag_name": "1.0.0"}, rp + "/releases/generate-notes", 200},
		{"create draft", "POST", repo + "/releases", map[string]any{"tag_name": "1.1.0", "target_commitish": commit(3), "name": "1.1.0", "body": "notes", "draft": true, "make_latest": "false"}, rp + "/releases", 201},
		{"create duplicate", "POST", repo + "/releases", map[string]any{"tag_name": "1.0.0"}, rp + "/releases", 422},
		{"list", "GET", repo + "/releases?per_page=1", nil, rp + "/releases", 200},
		{"list page 2 (Link target)", "GET", fmt.Sprintf("/repositories/%d/releases?per_page=1&page=2", repoID), nil, rp + "/releases", 200},
		{"draft by tag", "GET", repo + "/releases/tags/1.1.0", nil, rp + "/releases/tags/{tag}", 404},
		{"get by id", "GET", repo + "/releases/{id}", nil, rp + "/releases/{release_id}", 200},
		{"publish", "PATCH", repo + "/releases/{id}", map[string]any{"draft": false, "make_latest": "true"}, rp + "/releases/{release_id}", 200},
		{"by tag", "GET", repo + "/releases/tags/1.1.0", nil, rp + "/releases/tags/{tag}", 200},
		{"get ref", "GET", repo + "/git/ref/tags/1.1.0", nil, rp + "/git/ref/{ref}", 200},
		{"get annotated ref", "GET", repo + "/git/ref/tags/0.9.0", nil, rp + "/git/ref/{ref}", 200},
		{"get branch ref", "GET", repo + "/git/ref/heads/main", nil, rp + "/git/ref/{ref}", 200},
		{"missing ref", "GET", repo + "/git/ref/tags/nope", nil, rp + "/git/ref/{ref}", 404},
		{"tag object", "GET", repo + "/git/tags/" + obj, nil, rp + "/git/tags/{tag_sha}", 200},
		{"delete", "DELETE", repo + "/releases/{id}", nil, rp + "/releases/{release_id}", 204},
		// (GET of a missing release answers 404 on GitHub, but the description lists only 200 and 401.)
		{"delete again", "DELETE", repo + "/releases/{id}", nil, rp + "/releases/{release_id}", 404},
		{"create deployment", "POST", repo + "/deployments", map[string]any{"ref": commit(4), "environment": "dev", "auto_merge": false, "required_contexts": []string{},
			"payload": map[string]any{"snapshot": "1.1.0-SNAPSHOT-abc"}, "description": "gantry dev", "transient_environment": false, "production_environment": false}, rp + "/deployments", 201},
		{"create deployment, unknown ref", "POST", repo + "/deployments", map[string]any{"ref": "nope", "environment": "dev"}, rp + "/deployments", 422},
		{"in_progress status", "POST", repo + "/deployments/{deployment}/statuses", map[string]any{"state": "in_progress", "log_url": "https://github.com/bookshop-ops/book-shop/actions/runs/1"}, rp + "/deployments/{deployment_id}/statuses", 201},
		{"success status", "POST", repo + "/deployments/{deployment}/statuses", map[string]any{"state": "success", "environment_url": "http://dev.example:8080", "auto_inactive": true}, rp + "/deployments/{deployment_id}/statuses", 201},
		{"bad state", "POST", repo + "/deployments/{deployment}/statuses", map[string]any{"state": "done"}, rp + "/deployments/{deployment_id}/statuses", 422},
		{"list deployments", "GET", repo + "/deployments?environment=dev&sha=" + commit(4), nil, rp + "/deployments", 200},
		{"list a job's deployments", "GET", repo + "/deployments?environment=production", nil, rp + "/deployments", 200},
		{"get deployment", "GET", repo + "/deployments/{deployment}", nil, rp + "/deployments/{deployment_id}", 200},
		{"list statuses", "GET", repo + "/deployments/{deployment}/statuses", nil, rp + "/deployments/{deployment_id}/statuses", 200},
		{"statuses of a missing deployment", "GET", repo + "/deployments/999999/statuses", nil, rp + "/deployments/{deployment_id}/statuses", 404},
	}
	var draftID, deploymentID string
	for _, ex := range steps {
		path := strings.ReplaceAll(strings.ReplaceAll(ex.path, "{id}", draftID), "{deployment}", deploymentID)
		status, body := send(t, s, ex.method, path, ex.body)
		if status != ex.status {
			t.Errorf("%s: %s %s answered %d, want %d: %s", ex.name, ex.method, path, status, ex.status, body)
			continue
		}
		op := sp.operation(ex.method, ex.pattern)
		if op == nil {
			t.Errorf("%s: %s %s not in the description", ex.name, ex.method, ex.pattern)
			continue
		}
		schema, documented := sp.responseSchema(op, status)
		if !documented {
			t.Errorf("%s: %s %s answered %d, which the description does not list for %v", ex.name, ex.method, ex.pattern, status, op["operationId"])
			continue
		}
		if status == http.StatusNoContent {
			if len(bytes.TrimSpace(body)) != 0 {
				t.Errorf("%s: 204 with a body: %s", ex.name, body)
			}
			continue
		}
		if schema == nil {
			t.Errorf("%s: the description has no JSON schema for %d", ex.name, status)
			continue
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("%s: body is not JSON: %v", ex.name, err)
			continue
		}
		for _, p := range sp.check("$", schema, v, 0) {
			t.Errorf("%s (%v): %s", ex.name, op["operationId"], p)
		}
		if ex.name == "create draft" {
			m, _ := v.(map[string]any)
			draftID = fmt.Sprint(int64(m["id"].(float64)))
		}
		if ex.name == "create deployment" {
			m, _ := v.(map[string]any)
			deploymentID = fmt.Sprint(int64(m["id"].(float64)))
		}
		if ex.name == "list deployments" {
			if list, _ := v.([]any); len(list) != 1 {
				t.Errorf("list deployments for dev at %s: %d deployments, want the one created", commit(4), len(list))
			}
		}
	}
}

// TestCheckerCatchesMismatch proves the schema check can fail.
func TestCheckerCatchesMismatch(t *testing.T) {
	sp := loadSpec(t)
	op := sp.operation("GET", "/repos/{owner}/{repo}/releases/latest")
	schema, _ := sp.responseSchema(op, 200)
	bad := map[string]any{"id": "not-a-number", "tag_name": "1.0.0", "draft": false, "published_at": "yesterday"}
	probs := sp.check("$", schema, bad, 0)
	for _, want := range []string{`lacks required property "url"`, "$.id: not-a-number, want integer", `"yesterday" is not a date-time`} {
		found := false
		for _, p := range probs {
			found = found || strings.Contains(p, want)
		}
		if !found {
			t.Errorf("checker missed %q in %v", want, probs)
		}
	}
}

func send(t *testing.T, s *Server, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}
