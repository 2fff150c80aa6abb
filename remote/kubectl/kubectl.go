package kubectl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// RevisionAnnotation is where the deployment controller numbers a deployment's revisions.
const RevisionAnnotation = "deployment.kubernetes.io/revision"

// Client runs kubectl on a host. Command holds the words of the configured command
// (e.g. "microk8s", "kubectl"); every word and argument is quoted on its way into the
// remote shell.
type Client struct {
	Host      hostexec.Runner
	Command   []string
	Namespace string
}

// Words splits a configured kubectl command ("microk8s kubectl") into words.
func Words(command string) []string {
	w := strings.Fields(command)
	if len(w) == 0 {
		return []string{"kubectl"}
	}
	return w
}

// Cmd builds `<kubectl> [--namespace NS] args...`.
func (k Client) Cmd(args ...string) hostexec.Cmd {
	words := append([]string{}, k.Command...)
	if len(words) == 0 {
		words = []string{"kubectl"}
	}
	if k.Namespace != "" {
		words = append(words, "--namespace", k.Namespace)
	}
	return hostexec.Command(append(words, args...)...)
}

// Error is a kubectl call that failed, with kubectl's own message.
type Error struct {
	Args    []string
	Code    int
	Message string
	Err     error
}

func (e *Error) Error() string {
	what := "kubectl " + strings.Join(e.Args, " ")
	if e.Message != "" {
		return fmt.Sprintf("%s: %s", what, e.Message)
	}
	return fmt.Sprintf("%s: %v", what, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrDeploymentNotFound means the deployment does not exist (yet).
var ErrDeploymentNotFound = errors.New("deployment not found")

// Run runs kubectl with args. Output lines go to opts' callbacks as they arrive; a
// failure becomes a *Error holding kubectl's last error line.
func (k Client) Run(ctx context.Context, opts hostexec.RunOptions, args ...string) (hostexec.Result, error) {
	res, err := k.Host.Run(ctx, k.Cmd(args...), opts)
	if err != nil {
		var exit *hostexec.ExitError
		if errors.As(err, &exit) {
			return res, &Error{Args: args, Code: exit.Code, Message: kubectlMessage(res.Stderr, res.Stdout), Err: err}
		}
		return res, &Error{Args: args, Code: -1, Err: err}
	}
	return res, nil
}

// kubectlMessage picks kubectl's error text: the last non-empty stderr line (stdout when
// stderr is empty).
func kubectlMessage(stderr, stdout string) string {
	for _, s := range []string{stderr, stdout} {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if l := strings.TrimSpace(lines[i]); l != "" {
				return hostexec.Summary(l)
			}
		}
	}
	return ""
}

// DeploymentState is what a deployment runs and how far its rollout got.
type DeploymentState struct {
	Name, Namespace string
	// Images maps container name to image.
	Images                             map[string]string
	Containers                         []string
	Desired, Ready, Updated, Available int
	Unavailable                        int
	Revision                           string
	ChangeCause                        string
	Selector                           string
	Generation, ObservedGeneration     int64
	ProgressingReason, ProgressingMsg  string
	AvailableStatus, ProgressingStatus string
	CreatedAt                          time.Time
	Paused                             bool
}

type deploymentJSON struct {
	Metadata struct {
		Name              string            `json:"name"`
		Namespace         string            `json:"namespace"`
		Generation        int64             `json:"generation"`
		Annotations       map[string]string `json:"annotations"`
		CreationTimestamp time.Time         `json:"creationTimestamp"`
	} `json:"metadata"`
	Spec struct {
		Replicas *int `json:"replicas"`
		Paused   bool `json:"paused"`
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Template podTemplateJSON `json:"template"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration  int64 `json:"observedGeneration"`
		Replicas            int   `json:"replicas"`
		ReadyReplicas       int   `json:"readyReplicas"`
		UpdatedReplicas     int   `json:"updatedReplicas"`
		AvailableReplicas   int   `json:"availableReplicas"`
		UnavailableReplicas int   `json:"unavailableReplicas"`
		Conditions          []struct {
			Type    string `json:"type"`
			Status  string `json:"status"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"conditions"`
	} `json:"status"`
}

// ParseDeployment reads `kubectl get deployment -o json` output.
func ParseDeployment(data []byte) (DeploymentState, error) {
	var d deploymentJSON
	if err := json.Unmarshal(data, &d); err != nil {
		return DeploymentState{}, fmt.Errorf("parse deployment: %w", err)
	}
	st := DeploymentState{
		Name:               d.Metadata.Name,
		Namespace:          d.Metadata.Namespace,
		Images:             map[string]string{},
		Desired:            1,
		Ready:              d.Status.ReadyReplicas,
		Updated:            d.Status.UpdatedReplicas,
		Available:          d.Status.AvailableReplicas,
		Unavailable:        d.Status.UnavailableReplicas,
		Revision:           d.Metadata.Annotations[RevisionAnnotation],
		ChangeCause:        d.Metadata.Annotations[ChangeCauseAnnotation],
		Generation:         d.Metadata.Generation,
		ObservedGeneration: d.Status.ObservedGeneration,
		CreatedAt:          d.Metadata.CreationTimestamp,
		Paused:             d.Spec.Paused,
		Selector:           labelSelector(d.Spec.Selector.MatchLabels),
	}
	if d.Spec.Replicas != nil {
		st.Desired = *d.Spec.Replicas
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		st.Images[c.Name] = c.Image
		st.Containers = append(st.Containers, c.Name)
	}
	for _, c := range d.Status.Conditions {
		switch c.Type {
		case "Progressing":
			st.ProgressingStatus, st.ProgressingReason, st.ProgressingMsg = c.Status, c.Reason, c.Message
		case "Available":
			st.AvailableStatus = c.Status
		}
	}
	return st, nil
}

// labelSelector renders matchLabels as k=v,k2=v2 in a stable order.
func labelSelector(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// Deployment reads a deployment; ErrDeploymentNotFound when it does not exist.
func (k Client) Deployment(ctx context.Context, name string) (DeploymentState, error) {
	res, err := k.Run(ctx, hostexec.RunOptions{}, "get", "deployment", name, "--output", "json")
	if err != nil {
		if strings.Contains(res.Stderr, "(NotFound)") {
			return DeploymentState{}, fmt.Errorf("deployment %s%s: %w", name, k.inNamespace(), ErrDeploymentNotFound)
		}
		return DeploymentState{}, err
	}
	return ParseDeployment([]byte(res.Stdout))
}

func (k Client) inNamespace() string {
	if k.Namespace == "" {
		return ""
	}
	return " in namespace " + k.Namespace
}

// ContainerState is one container of a pod.
type ContainerState struct {
	Name, Image    string
	Ready          bool
	Restarts       int
	Waiting        string // reason, e.g. CrashLoopBackOff
	WaitingMessage string
	LastExit       string // e.g. "Error (exit 1)"
}

// PodState is one pod as kubectl reports it.
type PodState struct {
	Name, UID, Phase string
	Deleting         bool
	Containers       []ContainerState
	CreatedAt        time.Time
}

type podListJSON struct {
	Items []struct {
		Metadata struct {
			Name              string     `json:"name"`
			UID               string     `json:"uid"`
			DeletionTimestamp *time.Time `json:"deletionTimestamp"`
			CreationTimestamp time.Time  `json:"creationTimestamp"`
		} `json:"metadata"`
		Status struct {
			Phase                 string            `json:"phase"`
			InitContainerStatuses []containerStatus `json:"initContainerStatuses"`
			ContainerStatuses     []containerStatus `json:"containerStatuses"`
		} `json:"status"`
	} `json:"items"`
}

type containerStatus struct {
	Name         string `json:"name"`
	Image        string `json:"image"`
	Ready        bool   `json:"ready"`
	RestartCount int    `json:"restartCount"`
	State        struct {
		Waiting *struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"waiting"`
	} `json:"state"`
	LastState struct {
		Terminated *struct {
			Reason   string `json:"reason"`
			ExitCode int    `json:"exitCode"`
		} `json:"terminated"`
	} `json:"lastState"`
}

// ParsePods reads `kubectl get pods -o json` output.
func ParsePods(data []byte) ([]PodState, error) {
	var l podListJSON
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("parse pods: %w", err)
	}
	out := make([]PodState, 0, len(l.Items))
	for _, it := range l.Items {
		p := PodState{Name: it.Metadata.Name, UID: it.Metadata.UID, Phase: it.Status.Phase, Deleting: it.Metadata.DeletionTimestamp != nil, CreatedAt: it.Metadata.CreationTimestamp}
		for _, cs := range append(append([]containerStatus{}, it.Status.InitContainerStatuses...), it.Status.ContainerStatuses...) {
			c := ContainerState{Name: cs.Name, Image: cs.Image, Ready: cs.Ready, Restarts: cs.RestartCount}
			if w := cs.State.Waiting; w != nil {
				c.Waiting, c.WaitingMessage = w.Reason, w.Message
			}
			if t := cs.LastState.Terminated; t != nil {
				c.LastExit = fmt.Sprintf("%s (exit %d)", t.Reason, t.ExitCode)
			}
			p.Containers = append(p.Containers, c)
		}
		out = append(out, p)
	}
	return out, nil
}

// Pods lists the pods matching a label selector (all pods when it is empty).
func (k Client) Pods(ctx context.Context, selector string) ([]PodState, error) {
	out, err := k.list(ctx, "pods", selector)
	if err != nil {
		return nil, err
	}
	return ParsePods(out)
}

// list is `kubectl get <kind> --output json`, narrowed by a label selector when set.
func (k Client) list(ctx context.Context, kind, selector string) ([]byte, error) {
	args := []string{"get", kind, "--output", "json"}
	if selector != "" {
		args = append(args, "--selector", selector)
	}
	res, err := k.Run(ctx, hostexec.RunOptions{}, args...)
	if err != nil {
		return nil, err
	}
	return []byte(res.Stdout), nil
}

// stuckReasons are container waiting reasons a rollout does not recover from by waiting.
var stuckReasons = map[string]bool{
	"ImagePullBackOff":  true,
	"ErrImagePull":      true,
	"CrashLoopBackOff":  true,
	"InvalidImageName":  true,
	"ErrImageNeverPull": true,
}

// PodProblem is a container that will not start.
type PodProblem struct {
	Pod, Container, Image, Reason, Message string
	Restarts                               int
	LastExit                               string
}

func (p PodProblem) String() string {
	s := fmt.Sprintf("pod %s container %s: %s", p.Pod, p.Container, p.Reason)
	if p.Message != "" {
		s += ": " + p.Message
	}
	if p.Restarts > 0 {
		s += fmt.Sprintf(" (%d restarts", p.Restarts)
		if p.LastExit != "" {
			s += ", last " + p.LastExit
		}
		s += ")"
	}
	return s
}

// StuckPods returns the problems of pods not in known (by UID) whose containers wait
// for a reason that waiting will not fix.
func StuckPods(pods []PodState, known map[string]bool) []PodProblem {
	var out []PodProblem
	for _, p := range pods {
		if p.Deleting || known[p.UID] {
			continue
		}
		for _, c := range p.Containers {
			if stuckReasons[c.Waiting] {
				out = append(out, PodProblem{Pod: p.Name, Container: c.Name, Image: c.Image, Reason: c.Waiting, Message: c.WaitingMessage, Restarts: c.Restarts, LastExit: c.LastExit})
			}
		}
	}
	return out
}

// ErrRolloutFailed marks a rollout that did not become healthy.
var ErrRolloutFailed = errors.New("rollout failed")

// StuckPodsError says which new pods cannot start; it stops a rollout early.
type StuckPodsError struct {
	Deployment string
	Problems   []PodProblem
}

func (e *StuckPodsError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("rollout of deployment/%s cannot succeed: %s", e.Deployment, strings.Join(parts, "; "))
}

// Is makes StuckPodsError match ErrRolloutFailed.
func (e *StuckPodsError) Is(t error) bool { return t == ErrRolloutFailed }

// RolloutStatusError is `rollout status` giving up (timeout, progress deadline).
type RolloutStatusError struct {
	Deployment string
	Err        error
}

func (e *RolloutStatusError) Error() string {
	return fmt.Sprintf("rollout of deployment/%s did not complete: %v", e.Deployment, e.Err)
}

func (e *RolloutStatusError) Unwrap() error { return e.Err }

// Is makes RolloutStatusError match ErrRolloutFailed.
func (e *RolloutStatusError) Is(t error) bool { return t == ErrRolloutFailed }

// Watch says how to wait for a rollout.
type Watch struct {
	Deployment string
	// Timeout is passed to `rollout status --timeout`.
	Timeout time.Duration
	// Poll is how often pods are checked while waiting (2s when 0).
	Poll time.Duration
	// Selector picks the deployment's pods.
	Selector string
	// Known holds the UIDs of pods that existed before the change; only newer pods
	// can fail the rollout early.
	Known map[string]bool
	// Log receives status lines as kubectl prints them.
	Log func(format string, args ...any)
}

// WatchRollout streams `rollout status` and, while it waits, polls the deployment's pods:
// a new pod stuck in ImagePullBackOff, ErrImagePull or CrashLoopBackOff ends the wait
// early with a *StuckPodsError.
func (k Client) WatchRollout(ctx context.Context, w Watch) error {
	logf := w.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	poll := w.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	pollerDone := make(chan struct{})
	go func() {
		defer close(pollerDone)
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-wctx.Done():
				return
			case <-t.C:
			}
			pods, err := k.Pods(wctx, w.Selector)
			if err != nil {
				if wctx.Err() == nil {
					logf("pod check failed: %v", err)
				}
				continue
			}
			if probs := StuckPods(pods, w.Known); len(probs) > 0 {
				cancel(&StuckPodsError{Deployment: w.Deployment, Problems: probs})
				return
			}
		}
	}()
	args := []string{"rollout", "status", "deployment/" + w.Deployment, "--timeout", w.Timeout.String()}
	line := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			logf("%s", s)
		}
	}
	_, err := k.Run(wctx, hostexec.RunOptions{OnStdout: line, OnStderr: line}, args...)
	close(done)
	<-pollerDone
	var stuck *StuckPodsError
	if cause := context.Cause(wctx); errors.As(cause, &stuck) {
		return stuck
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// One last look: a stuck pod explains a timeout better than the timeout does.
		if pods, perr := k.Pods(ctx, w.Selector); perr == nil {
			if probs := StuckPods(pods, w.Known); len(probs) > 0 {
				return &StuckPodsError{Deployment: w.Deployment, Problems: probs}
			}
		}
		return &RolloutStatusError{Deployment: w.Deployment, Err: err}
	}
	return nil
}

// PodUIDs returns the set of the pods' UIDs.
func PodUIDs(pods []PodState) map[string]bool {
	m := make(map[string]bool, len(pods))
	for _, p := range pods {
		m[p.UID] = true
	}
	return m
}

// describe summarises a deployment's state in one line.
func (s DeploymentState) Describe(container string) string {
	rev := s.Revision
	if rev == "" {
		rev = "?"
	}
	out := fmt.Sprintf("%s=%s, %d/%d ready, revision %s", container, s.Images[container], s.Ready, s.Desired, rev)
	if s.ChangeCause != "" {
		out += " (" + s.ChangeCause + ")"
	}
	return out
}

// FailedAnnotation marks the ReplicaSet of a revision whose rollout gantry saw fail, so
// `gantry rollback prod` never goes back to it.
const FailedAnnotation = "gantry/rollout-failed"

// ReplicaSetState is one revision of a deployment.
type ReplicaSetState struct {
	Name     string
	Revision int
	// Images maps container name to image.
	Images      map[string]string
	ChangeCause string
	Failed      string // the FailedAnnotation's value, "" when unmarked
	Replicas    int
	Ready       int
}

// podTemplateJSON is the part of a pod template gantry reads: its containers' images.
type podTemplateJSON struct {
	Spec struct {
		Containers []struct {
			Name  string `json:"name"`
			Image string `json:"image"`
		} `json:"containers"`
	} `json:"spec"`
}

type replicaSetListJSON struct {
	Items []struct {
		Metadata struct {
			Name            string            `json:"name"`
			Annotations     map[string]string `json:"annotations"`
			OwnerReferences []struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"ownerReferences"`
		} `json:"metadata"`
		Spec struct {
			Template podTemplateJSON `json:"template"`
		} `json:"spec"`
		Status struct {
			Replicas      int `json:"replicas"`
			ReadyReplicas int `json:"readyReplicas"`
		} `json:"status"`
	} `json:"items"`
}

// ReplicaSets lists the deployment's revisions, newest first.
func (k Client) ReplicaSets(ctx context.Context, deployment, selector string) ([]ReplicaSetState, error) {
	data, err := k.list(ctx, "replicasets", selector)
	if err != nil {
		return nil, err
	}
	var l replicaSetListJSON
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("parse replicasets: %w", err)
	}
	var out []ReplicaSetState
	for _, it := range l.Items {
		owned := false
		for _, o := range it.Metadata.OwnerReferences {
			owned = owned || (o.Kind == "Deployment" && o.Name == deployment)
		}
		if !owned {
			continue
		}
		rev, _ := strconv.Atoi(it.Metadata.Annotations[RevisionAnnotation])
		rs := ReplicaSetState{Name: it.Metadata.Name, Revision: rev, Images: map[string]string{},
			ChangeCause: it.Metadata.Annotations[ChangeCauseAnnotation], Failed: it.Metadata.Annotations[FailedAnnotation],
			Replicas: it.Status.Replicas, Ready: it.Status.ReadyReplicas}
		for _, c := range it.Spec.Template.Spec.Containers {
			rs.Images[c.Name] = c.Image
		}
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision > out[j].Revision })
	return out, nil
}

// markRevision sets (value != "") or clears the FailedAnnotation on the ReplicaSet of
// the deployment's revision.
func (k Client) MarkRevision(ctx context.Context, deployment, selector, revision, value string) error {
	rss, err := k.ReplicaSets(ctx, deployment, selector)
	if err != nil {
		return err
	}
	for _, rs := range rss {
		if strconv.Itoa(rs.Revision) != revision {
			continue
		}
		if value == "" && rs.Failed == "" {
			return nil
		}
		arg := FailedAnnotation + "-"
		if value != "" {
			arg = FailedAnnotation + "=" + value
		}
		_, err := k.Run(ctx, hostexec.RunOptions{}, "annotate", "replicaset/"+rs.Name, arg, "--overwrite")
		return err
	}
	return nil
}

// RollbackRevision picks what `gantry rollback prod` goes back to: the newest earlier
// revision that runs another image and whose rollout gantry did not see fail. A plain
// `rollout undo` would pick the revision just before, which after an undone failure is
// the failed one.
func RollbackRevision(rss []ReplicaSetState, current DeploymentState, container string) (ReplicaSetState, bool) {
	cur := current.Images[container]
	for _, rs := range rss {
		if strconv.Itoa(rs.Revision) == current.Revision || rs.Failed != "" || rs.Images[container] == cur {
			continue
		}
		return rs, true
	}
	return ReplicaSetState{}, false
}
