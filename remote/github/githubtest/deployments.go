package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Deployment is a deployment held by the fake, with its statuses oldest first.
type Deployment struct {
	ID          int64
	SHA, Ref    string
	Task        string
	Environment string
	Description string
	// Payload is the JSON payload as sent (an object, or a string).
	Payload               json.RawMessage
	Creator               string // login
	App                   string // slug of the GitHub App it was made through ("" for none)
	TransientEnvironment  bool
	ProductionEnvironment bool
	CreatedAt             time.Time
	Statuses              []DeploymentStatus
}

// DeploymentStatus is one status of a fake deployment.
type DeploymentStatus struct {
	ID             int64
	State          string
	Description    string
	Environment    string
	EnvironmentURL string
	LogURL         string
	CreatedAt      time.Time
	// Auto is set on inactive statuses the fake added itself (auto_inactive).
	Auto bool
}

// State is the deployment's latest state ("" with no status).
func (d Deployment) State() string {
	if len(d.Statuses) == 0 {
		return ""
	}
	return d.Statuses[len(d.Statuses)-1].State
}

// WithLiteralAutoInactive applies auto_inactive as GitHub's REST reference words it:
// only to earlier non-production deployments. Without it, a success marks every
// earlier successful deployment of the environment inactive.
func WithLiteralAutoInactive() Option { return func(s *Server) { s.literalAutoInactive = true } }

// ActionsApp is the slug of the app GitHub Actions creates a job's deployment through.
const ActionsApp = "github-actions"

// AddDeployment stores a deployment as if someone else made it, e.g. GitHub
// Actions for a job that names an environment (App ActionsApp, Creator
// "github-actions[bot]"). Statuses given are kept; the stored deployment is returned.
func (s *Server) AddDeployment(repoName string, d Deployment) Deployment {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repoName)
	if !shaRE.MatchString(d.SHA) {
		s.t.Fatalf("githubtest: AddDeployment: sha %q must be 40 lower-case hex digits", d.SHA)
	}
	d.ID = s.id()
	if d.Ref == "" {
		d.Ref = d.SHA
	}
	if d.Task == "" {
		d.Task = "deploy"
	}
	if d.Creator == "" {
		d.Creator = "octocat"
	}
	if len(d.Payload) == 0 {
		d.Payload = json.RawMessage(`{}`)
	}
	d.CreatedAt = s.tick()
	for i := range d.Statuses {
		d.Statuses[i].ID = s.id()
		d.Statuses[i].CreatedAt = s.tick()
		if d.Statuses[i].Environment == "" {
			d.Statuses[i].Environment = d.Environment
		}
	}
	cp := d
	cp.Statuses = append([]DeploymentStatus(nil), d.Statuses...)
	r.deployments = append(r.deployments, &cp)
	return d
}

// Deployments returns repoName's deployments, oldest first, with their statuses.
func (s *Server) Deployments(repoName string) []Deployment {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repoName)
	out := make([]Deployment, len(r.deployments))
	for i, d := range r.deployments {
		out[i] = *d
		out[i].Statuses = append([]DeploymentStatus(nil), d.Statuses...)
	}
	return out
}

func (r *repo) deploymentByID(id string) *Deployment {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	for _, d := range r.deployments {
		if d.ID == n {
			return d
		}
	}
	return nil
}

func (s *Server) integration(slug string) any {
	if slug == "" {
		return nil
	}
	ts := time.Date(2018, 7, 30, 9, 30, 17, 0, time.UTC).Format(time.RFC3339)
	return map[string]any{
		"id": 15368, "slug": slug, "node_id": nodeID("Integration", 15368), "name": "GitHub Actions",
		"owner": s.user("github", 9919), "description": "Automate your workflow from idea to production",
		"external_url": "https://help.github.com/en/actions", "html_url": WebURL + "/apps/" + slug,
		"created_at": ts, "updated_at": ts,
		"permissions": map[string]string{"deployments": "write", "contents": "write"},
		"events":      []string{"deployment", "push"},
	}
}

func (s *Server) deploymentJSON(r *repo, d *Deployment) map[string]any {
	api := fmt.Sprintf("%s/repos/%s/deployments/%d", s.URL, r.fullName(), d.ID)
	var payload any = map[string]any{}
	if len(d.Payload) > 0 {
		_ = json.Unmarshal(d.Payload, &payload)
	}
	return map[string]any{
		"url": api, "id": d.ID, "node_id": nodeID("Deployment", d.ID),
		"sha": d.SHA, "ref": d.Ref, "task": d.Task, "payload": payload,
		"original_environment": d.Environment, "environment": d.Environment,
		"description": nullIfEmpty(d.Description), "creator": s.user(d.Creator, 583231),
		"created_at": d.CreatedAt.UTC().Format(time.RFC3339), "updated_at": d.CreatedAt.UTC().Format(time.RFC3339),
		"statuses_url": api + "/statuses", "repository_url": s.URL + "/repos/" + r.fullName(),
		"transient_environment": d.TransientEnvironment, "production_environment": d.ProductionEnvironment,
		"performed_via_github_app": s.integration(d.App),
	}
}

func (s *Server) deploymentStatusJSON(r *repo, d *Deployment, st DeploymentStatus) map[string]any {
	api := fmt.Sprintf("%s/repos/%s/deployments/%d", s.URL, r.fullName(), d.ID)
	creator := "octocat"
	if d.App == ActionsApp && st.Auto {
		creator = "github-actions[bot]"
	}
	return map[string]any{
		"url": fmt.Sprintf("%s/statuses/%d", api, st.ID), "id": st.ID, "node_id": nodeID("DeploymentStatus", st.ID),
		"state": st.State, "creator": s.user(creator, 583231), "description": st.Description,
		"environment": st.Environment, "target_url": st.LogURL, "log_url": st.LogURL,
		"environment_url": st.EnvironmentURL,
		"created_at":      st.CreatedAt.UTC().Format(time.RFC3339), "updated_at": st.CreatedAt.UTC().Format(time.RFC3339),
		"deployment_url": api, "repository_url": s.URL + "/repos/" + r.fullName(),
		"performed_via_github_app": nil,
	}
}

// createDeployment is POST .../deployments. The ref must name a known
// branch, tag or commit; required contexts other than [] are not checked
// (the fake has no commit statuses) and auto_merge is ignored.
func (s *Server) createDeployment(w http.ResponseWriter, r *repo, body []byte) {
	if !s.canWrite(w, r) {
		return
	}
	in, ok := decodeBody(w, body, map[string]fieldKind{
		"ref": kindString, "task": kindString, "auto_merge": kindBool, "environment": kindString,
		"description": kindString, "transient_environment": kindBool, "production_environment": kindBool,
	}, "ref")
	if !ok {
		return
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(body, &raw)
	if p, ok := raw["payload"]; ok {
		var obj map[string]any
		var str string
		if json.Unmarshal(p, &obj) != nil && json.Unmarshal(p, &str) != nil {
			writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\nFor 'properties/payload', is not an object or a string.", nil)
			return
		}
	}
	if rc, ok := raw["required_contexts"]; ok {
		var list []string
		if json.Unmarshal(rc, &list) != nil {
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Invalid request.\n\nFor 'properties/required_contexts', %s is not an array.", rc), nil)
			return
		}
	}
	ref := str(in, "ref")
	sha, ok := r.resolve(ref)
	if !ok {
		sha, ok = r.tagCommit(ref)
	}
	if !ok {
		validationFailed(w, errorItem{Resource: "Deployment", Code: "custom", Field: "ref", Message: "No ref found for: " + ref})
		return
	}
	env := str(in, "environment")
	if _, set := in["environment"]; !set {
		env = "production"
	}
	task := str(in, "task")
	if task == "" {
		task = "deploy"
	}
	prod := env == "production"
	if _, set := in["production_environment"]; set {
		prod = boolean(in, "production_environment")
	}
	payload := raw["payload"]
	if len(payload) == 0 {
		payload = json.RawMessage(`{}`)
	}
	d := &Deployment{
		ID: s.id(), SHA: sha, Ref: ref, Task: task, Environment: env, Description: str(in, "description"),
		Payload: payload, Creator: "octocat", TransientEnvironment: boolean(in, "transient_environment"),
		ProductionEnvironment: prod, CreatedAt: s.tick(),
	}
	if s.installation {
		d.Creator, d.App = "github-actions[bot]", ActionsApp
	}
	r.deployments = append(r.deployments, d)
	writeJSON(w, http.StatusCreated, s.deploymentJSON(r, d))
}

// listDeployments is GET .../deployments, newest first, filtered by sha,
// ref, task and environment.
func (s *Server) listDeployments(w http.ResponseWriter, req *http.Request, r *repo) {
	q := req.URL.Query()
	perPage, page := pageParams(q.Get("per_page"), q.Get("page"))
	var match []*Deployment
	for i := len(r.deployments) - 1; i >= 0; i-- {
		d := r.deployments[i]
		if (q.Get("sha") != "" && q.Get("sha") != d.SHA) || (q.Get("ref") != "" && q.Get("ref") != d.Ref) ||
			(q.Get("task") != "" && q.Get("task") != d.Task) || (q.Get("environment") != "" && q.Get("environment") != d.Environment) {
			continue
		}
		match = append(match, d)
	}
	out := []map[string]any{}
	for i := (page - 1) * perPage; i < len(match) && i < page*perPage; i++ {
		out = append(out, s.deploymentJSON(r, match[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func pageParams(perPageS, pageS string) (perPage, page int) {
	perPage, page = 30, 1
	if n, err := strconv.Atoi(perPageS); err == nil && n > 0 {
		perPage = min(n, 100)
	}
	if n, err := strconv.Atoi(pageS); err == nil && n > 0 {
		page = n
	}
	return perPage, page
}

func (s *Server) getDeployment(w http.ResponseWriter, r *repo, id string) {
	d := r.deploymentByID(id)
	if d == nil {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	writeJSON(w, http.StatusOK, s.deploymentJSON(r, d))
}

var deploymentStates = map[string]bool{"error": true, "failure": true, "inactive": true, "in_progress": true, "queued": true, "pending": true, "success": true}

// createDeploymentStatus is POST .../deployments/{id}/statuses. A success
// status with auto_inactive (default true) adds an inactive status to every
// earlier non-transient deployment of the same environment whose latest
// state is success, as GitHub does.
func (s *Server) createDeploymentStatus(w http.ResponseWriter, r *repo, id string, body []byte) {
	d := r.deploymentByID(id)
	if d == nil {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	if !s.canWrite(w, r) {
		return
	}
	in, ok := decodeBody(w, body, map[string]fieldKind{
		"state": kindString, "target_url": kindString, "log_url": kindString, "description": kindString,
		"environment": kindString, "environment_url": kindString, "auto_inactive": kindBool,
	}, "state")
	if !ok {
		return
	}
	state := str(in, "state")
	if !deploymentStates[state] {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Invalid request.\n\nFor 'properties/state', %q is not one of [\"error\", \"failure\", \"inactive\", \"in_progress\", \"queued\", \"pending\", \"success\"].", state), nil)
		return
	}
	desc := str(in, "description")
	if n := len([]rune(desc)); n > 140 {
		validationFailed(w, errorItem{Resource: "DeploymentStatus", Code: "custom", Field: "description", Message: fmt.Sprintf("description is too long (maximum is 140 characters, got %d)", n)})
		return
	}
	logURL := str(in, "log_url")
	if logURL == "" {
		logURL = str(in, "target_url")
	}
	env := str(in, "environment")
	if env == "" {
		env = d.Environment
	}
	d.Environment = env
	st := DeploymentStatus{ID: s.id(), State: state, Description: desc, Environment: env,
		EnvironmentURL: str(in, "environment_url"), LogURL: logURL, CreatedAt: s.tick()}
	d.Statuses = append(d.Statuses, st)
	autoInactive := true
	if _, set := in["auto_inactive"]; set {
		autoInactive = boolean(in, "auto_inactive")
	}
	if state == "success" && autoInactive {
		for _, o := range r.deployments {
			if o.ID == d.ID || o.Environment != d.Environment || o.TransientEnvironment || o.State() != "success" || o.ID > d.ID {
				continue
			}
			if s.literalAutoInactive && o.ProductionEnvironment {
				continue
			}
			o.Statuses = append(o.Statuses, DeploymentStatus{ID: s.id(), State: "inactive", Environment: o.Environment,
				Description: fmt.Sprintf("superseded by deployment %d", d.ID), CreatedAt: s.clock, Auto: true})
		}
	}
	writeJSON(w, http.StatusCreated, s.deploymentStatusJSON(r, d, st))
}

// listDeploymentStatuses is GET .../deployments/{id}/statuses, newest first.
func (s *Server) listDeploymentStatuses(w http.ResponseWriter, req *http.Request, r *repo, id string) {
	d := r.deploymentByID(id)
	if d == nil {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	perPage, page := pageParams(req.URL.Query().Get("per_page"), req.URL.Query().Get("page"))
	out := []map[string]any{}
	for i, n := len(d.Statuses)-1-(page-1)*perPage, 0; i >= 0 && n < perPage; i, n = i-1, n+1 {
		out = append(out, s.deploymentStatusJSON(r, d, d.Statuses[i]))
	}
	writeJSON(w, http.StatusOK, out)
}
