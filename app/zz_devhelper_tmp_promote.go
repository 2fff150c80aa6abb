//go:build devhelper_tmp

package app

// TEMPORARY (dev helper): lets app and cli compile with -tags devhelper_tmp until
// app/promote.go lands. Deleted before hand-off.

import (
	"context"
	"errors"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
)

type PromoteOptions struct {
	Snapshot    string
	ForceUnlock bool
}

func (a *App) Promote(PromoteOptions) []pipeline.Step { return nil }
func (a *App) promoteChecks() []pipeline.Check        { return nil }

type ProdStatus struct {
	Deployment, Image string
	Ready, Desired    int
	LastRollout       string
	At                time.Time
}

func (a *App) ProdStatus(context.Context) (ProdStatus, error) { return ProdStatus{}, errors.New("tmp") }

type PromotePlan struct {
	Snapshot, Digest, ReleaseTag, PromotedTag, NotesPreview, Deployment, Container, Image string
	Warnings                                                                              []string
}

func (a *App) PlanPromote(context.Context, string) (PromotePlan, error) {
	return PromotePlan{}, errors.New("tmp")
}
