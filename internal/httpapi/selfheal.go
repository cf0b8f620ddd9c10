package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/workflows"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// guardianHealth asks the cluster's guardian what it knows (nil when no
// guardian answers: not started yet, or no worker).
func (s *Server) guardianHealth(ctx context.Context, namespace, name string) *workflows.GuardianHealth {
	if s.d.Temporal == nil {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := s.d.Temporal.QueryWorkflow(qctx, workflows.GuardianWorkflowID(namespace, name), "", workflows.QueryHealth)
	if err != nil {
		return nil
	}
	var h workflows.GuardianHealth
	if err := v.Get(&h); err != nil || h.State == "" {
		return nil
	}
	return &h
}

// isSelfHeal reports whether the operation type is served by startSelfHeal.
func isSelfHeal(t operation.Type) bool {
	return t == workflows.OpRecover || t == workflows.OpSwitchover
}

// startSelfHeal admits recover and switchover. Both run on a degraded
// cluster: repairing one is their purpose.
func (s *Server) startSelfHeal(ctx context.Context, cp ClusterPath, dryRun bool, b OperationBody) (*accepted, error) {
	if errs := spec.ValidateName(field.NewPath("name"), cp.Name); len(errs) > 0 {
		return nil, rejection(errs, false, "path.")
	}
	m := s.meta(ctx, b.Type, cp.Namespace, cp.Name, b.Reason)
	var plan planner.Plan
	var wf, input any
	switch b.Type {
	case workflows.OpRecover:
		obs, err := s.d.Clusters.Objects(ctx, cp.Namespace, cp.Name)
		if err != nil {
			return nil, huma.Error503ServiceUnavailable("cannot read Kubernetes: " + err.Error())
		}
		if !obs.Exists {
			return nil, huma.Error404NotFound(fmt.Sprintf("cluster %s/%s does not exist", cp.Namespace, cp.Name))
		}
		rin := workflows.RecoverInput{Meta: m}
		plan = planner.Plan{Operation: string(b.Type), Summary: fmt.Sprintf("recover %s: replace lost instances, restore the zone rule", m.ClusterKey())}
		if h := s.guardianHealth(ctx, cp.Namespace, cp.Name); h != nil {
			rin.Lost, rin.Known = h.Lost, h.Known
			if len(h.Lost) == 0 {
				plan.Summary = fmt.Sprintf("recover %s: the guardian sees no lost instance (%s); the workflow checks again", m.ClusterKey(), h.State)
			}
			for _, l := range h.Lost {
				plan.Steps = append(plan.Steps, fmt.Sprintf("shard-%d ordinal %d: %s -> recreate it as a replica of the shard's primary, wait in sync", l.Shard, l.Ordinal, l.Reason))
			}
		}
		plan.Steps = append(plan.Steps, "relabel roles; switch a shard over if its primary shares a zone with a replica")
		wf, input = workflows.Recover, rin
	case workflows.OpSwitchover:
		if b.Shard == nil {
			s.metrics.rejected.WithLabelValues(string(b.Type), "422").Inc()
			return nil, rejection(field.ErrorList{field.Required(field.NewPath("shard"), "switchover needs the shard")}, false, "body.")
		}
		obs, err := s.observeCluster(ctx, cp.Namespace, cp.Name)
		if err != nil {
			return nil, err
		}
		to := -1
		if b.To != nil {
			to = *b.To
		}
		sp, err := guard.PlanSwitchover(obs.State, *b.Shard, to, b.AllowSharedZones)
		if err != nil {
			s.metrics.rejected.WithLabelValues(string(b.Type), "409").Inc()
			return nil, huma.Error409Conflict(err.Error())
		}
		plan = planner.Plan{Operation: string(b.Type), Summary: sp.Summary, Steps: sp.Steps}
		wf, input = workflows.Switchover, workflows.SwitchoverInput{Meta: m, Shard: *b.Shard, To: to, AllowSharedZones: b.AllowSharedZones, Plan: sp}
	}
	if dryRun {
		return &accepted{Status: http.StatusOK, Body: OperationAccepted{Type: string(b.Type), Namespace: cp.Namespace, Cluster: cp.Name, DryRun: true, Plan: plan}}, nil
	}
	res, err := s.start(ctx, m, plan, wf, input)
	if err != nil {
		return nil, err
	}
	return &accepted{Status: http.StatusAccepted, Body: *res}, nil
}
