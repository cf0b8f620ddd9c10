// Package kubedown is the kube-api-down chaos scenario: the Kubernetes API
// is away from dayops' worker while an upgrade bakes its canary. A gate
// that cannot be evaluated is not a failed gate: the upgrade must wait for
// the API and go on, not roll a healthy canary back (before 2026-12-05 it
// rolled back once the API had been away for about 15 s during a gate).
package kubedown

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/workflows"
)

// Outage is how long the scenario keeps the API away: three times what a
// gate rode out before, past the canary's bake (30 s, a gate every 5 s), so
// that gate evaluations and the bake's end fall into it.
const Outage = 45 * time.Second

// Run upgrades b's cluster to image (auto-approved, a 30 s canary bake with
// a gate every 5 s) and, once the canary bakes, takes the Kubernetes API
// away from the worker for outage (b.KubeAPI: the apiproxy in front of the
// worker's API server; dayops' API and the rest of the stack keep theirs).
// It fails unless the upgrade was still running, not rolling back, when
// the API came back, and then succeeded; the writer's account is the
// figure's.
func Run(ctx context.Context, b *chaosbench.Bench, image string, outage time.Duration) (chaosbench.Figure, error) {
	if b.KubeAPI == nil {
		return chaosbench.Figure{}, errors.New("kube-api-down: nothing stands between the worker and the Kubernetes API (Env.KubeAPI)")
	}
	f := chaosbench.Figure{Scenario: fmt.Sprintf("Kubernetes API away from the worker %s during an upgrade's canary bake", outage)}
	span, err := b.Begin(ctx)
	if err != nil {
		return f, err
	}
	var acc apiv1.OperationAccepted
	if err := b.Operator.Do(ctx, http.MethodPost, "/v1/clusters/"+b.Cluster+"/operations", url.Values{"namespace": {b.Namespace}},
		map[string]any{"type": "upgrade", "image": image, "autoApprove": true, "bake": "30s", "gate": map[string]any{"interval": "5s"},
			"reason": "chaos bench: an upgrade while the Kubernetes API is away"}, &acc); err != nil {
		return f, fmt.Errorf("start upgrade: %w", err)
	}
	if err := b.WaitBaking(ctx, acc.OperationID); err != nil {
		return f, err
	}
	b.Log.Info("chaos: fault", "scenario", "kube-api-down", "outage", outage, "upgrade", acc.OperationID)
	began := time.Now()
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	var conns int
	var outErr error
	down := make(chan struct{})
	go func() {
		defer close(down)
		conns, outErr = b.KubeAPI.Outage(octx, outage)
	}()
	stages, err := watchStages(ctx, b, acc.OperationID, down)
	if err != nil {
		return f, err
	}
	if outErr != nil {
		return f, fmt.Errorf("kube-api-down: outage: %w", outErr)
	}
	op, err := b.WaitOperation(ctx, acc.OperationID, 15*time.Minute)
	if err != nil {
		return f, err
	}
	u := op.Progress.Upgrade
	if op.Progress.Outcome != workflows.OutcomeSucceeded || u == nil || u.RolledBack {
		return f, fmt.Errorf("kube-api-down: upgrade %s ended %s/%s (%s %+v): a gate that could not reach the API failed it",
			acc.OperationID, op.Status, op.Progress.Outcome, op.Error, u)
	}
	if _, err := b.WaitWhole(ctx, chaosbench.RepairLimit); err != nil {
		return f, fmt.Errorf("kube-api-down: %w", err)
	}
	f.Note = fmt.Sprintf("upgrade %s %s %.1fs after the API came back (%d gate evaluations, last %q); stages during the outage %v; %d connections reset",
		acc.OperationID, op.Progress.Outcome, op.ClosedAt.Sub(began.Add(outage)).Seconds(), u.GateEvaluations, u.Gate, stages, conns)
	if err := b.End(ctx, span, &f); err != nil {
		return f, err
	}
	b.Log.Info("chaos: upgrade done", "scenario", "kube-api-down", "upgrade", acc.OperationID, "note", f.Note)
	return f, nil
}

// watchStages reads the upgrade through dayops' API (which keeps its own
// access to Kubernetes) every half second until down is closed (the outage
// ended) and returns the stages it saw, in order. The upgrade must run all
// along and never roll back.
func watchStages(ctx context.Context, b *chaosbench.Bench, id string, down <-chan struct{}) ([]string, error) {
	var stages []string
	for {
		var op apiv1.Operation
		if err := b.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+id, nil, nil, &op); err == nil {
			u := op.Progress.Upgrade
			if op.Status != "Running" || (u != nil && (u.Stage == workflows.StageRollingBack || u.RolledBack)) {
				return stages, fmt.Errorf("kube-api-down: during the outage upgrade %s is %s/%s (%s %+v): a gate that could not reach the API failed it",
					id, op.Status, op.Progress.Outcome, op.Error, u)
			}
			if u != nil && (len(stages) == 0 || stages[len(stages)-1] != u.Stage) {
				stages = append(stages, u.Stage)
			}
		}
		select {
		case <-down:
			return stages, nil
		case <-ctx.Done():
			return stages, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
