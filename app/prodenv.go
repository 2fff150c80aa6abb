package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/bookshop-ops/gantry/remote/kubectl"

	"github.com/bookshop-ops/gantry/workflow"
)

// ProdStatus is what the prod deployment runs, read from the cluster.
type ProdStatus struct {
	// Host is user@host of the prod machine.
	Host                             string
	Namespace, Deployment, Container string
	// State is "absent" when the deployment does not exist, else "rolled out",
	// "progressing", "failed" (progress deadline exceeded) or "paused".
	State string
	// Image is the container's image; Version is guessed from its tag.
	Image, Version                     string
	Desired, Ready, Updated, Available int
	// Revision and ChangeCause describe the last rollout.
	Revision, ChangeCause string
	// LastRollout is a one-line description of the last rollout for display.
	LastRollout string
	// Message is the Progressing condition's message when the rollout is not done.
	Message string
}

// ProdStatus reads the prod deployment with `kubectl get deployment -o json` over SSH.
func (a *App) ProdStatus(ctx context.Context) (ProdStatus, error) {
	p := a.Cfg.Prod
	st := ProdStatus{Host: fmt.Sprintf("%s@%s", p.User, p.Host), Namespace: p.Namespace, Deployment: p.Deployment, Container: p.Container}
	k, err := a.prodKubectl(ctx)
	if err != nil {
		return st, err
	}
	d, err := k.Deployment(ctx, p.Deployment)
	if errors.Is(err, kubectl.ErrDeploymentNotFound) {
		st.State = "absent"
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read prod deployment: %w", err)
	}
	return prodStatusOf(st, d), nil
}

func prodStatusOf(st ProdStatus, d kubectl.DeploymentState) ProdStatus {
	st.Image = d.Images[st.Container]
	st.Version = workflow.ImageVersion(st.Image)
	st.Desired, st.Ready, st.Updated, st.Available = d.Desired, d.Ready, d.Updated, d.Available
	st.Revision, st.ChangeCause = d.Revision, d.ChangeCause
	switch {
	case d.Paused:
		st.State = "paused"
	case d.ProgressingReason == "ProgressDeadlineExceeded":
		st.State = "failed"
		st.Message = d.ProgressingMsg
	case d.ObservedGeneration >= d.Generation && d.Updated == d.Desired && d.Ready == d.Desired && d.Available == d.Desired:
		st.State = "rolled out"
	default:
		st.State = "progressing"
		st.Message = d.ProgressingMsg
	}
	st.LastRollout = "revision " + orDash(d.Revision)
	if d.ChangeCause != "" {
		st.LastRollout += ": " + d.ChangeCause
	}
	return st
}
