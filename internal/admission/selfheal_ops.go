package admission

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/workflows"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// SwitchoverOptions are a switchover request's fields.
type SwitchoverOptions struct {
	// Shard is the shard whose primary hands over (required).
	Shard *int
	// To is the ordinal of the replica to promote; nil lets the plan pick
	// an in-sync replica that keeps the zone rule.
	To *int
}

// Health is the guardian's view of a cluster, which recover plans with: the
// server wires an adapter over the guardian workflow's health query, so
// admission stays free of Temporal. Optional: without it (or without an
// answer) the recover plan says that the workflow looks for itself.
type Health interface {
	// Lost returns what the cluster's guardian knows; ok is false when no
	// guardian answers (not started yet, no worker).
	Lost(ctx context.Context, namespace, name string) (v GuardianView, ok bool)
}

// GuardianView is what recover needs of the guardian's health.
type GuardianView struct {
	// State is Healthy, Degraded or Busy.
	State string
	// Lost are the instances the guardian found lost.
	Lost []guard.Lost
	// Known is the guardian's memory of the cluster's instances, so a Pod
	// that vanished is still known by ordinal.
	Known map[int]guard.Member
	// Primaries maps shard to the ordinal of its live primary.
	Primaries map[int]int
	// Going are the ordinals whose Pods are shutting down (being deleted
	// on Ready nodes).
	Going []int
}

// recoverEntry admits recover. It runs on a degraded cluster (repairing one
// is its purpose), so it reads Kubernetes only, never Redis, and its plan
// refuses nothing: the guardian's lost instances are listed, and the
// workflow observes again before it acts.
func recoverEntry() Entry {
	return Entry{
		Type: operation.Recover,
		Validate: func(r *Request, _ planner.Limits) *Error {
			if errs := spec.ValidateName(field.NewPath("name"), r.Cluster); len(errs) > 0 {
				return invalid("path.", errs)
			}
			return nil
		},
		Observe: func(ctx context.Context, src Sources, r *Request) (Live, *Error) {
			l, err := observeObjects(ctx, src, r)
			if err != nil {
				return Live{}, err
			}
			if src.Health != nil {
				if v, ok := src.Health.Lost(ctx, r.Namespace, r.Cluster); ok {
					l.Guardian = &v
				}
			}
			return l, nil
		},
		Plan: func(r *Request, l Live, _ planner.Limits) (planner.Plan, error) {
			return PlanRecover(operation.ClusterKey(l.Namespace, l.Cluster), l.Guardian), nil
		},
		Start: func(_ *Request, l Live, p planner.Plan, _ planner.Limits, m operation.Meta) Start {
			in := workflows.RecoverInput{Meta: m, Plan: &p}
			if l.Guardian != nil {
				in.Lost, in.Known = l.Guardian.Lost, l.Guardian.Known
			}
			return Start{Workflow: workflows.Recover, WorkflowID: workflows.WorkflowID(m.Namespace, m.Cluster), Input: in}
		},
	}
}

// PlanRecover is recover's plan for cluster (namespace/name) from the
// guardian's view (nil: no guardian answered): closing the slots left open,
// one step per lost instance, then the relabelling and the zone rule.
func PlanRecover(cluster string, g *GuardianView) planner.Plan {
	p := planner.Plan{Operation: string(operation.Recover),
		Summary: fmt.Sprintf("recover %s: close slots left open, replace lost instances, restore the zone rule", cluster),
		Steps: []string{"close the slots a slot move cut short left open: finish each towards the node holding its moved keys " +
			"(a lost node's promoted replica in its place), else leave it with its owner"}}
	if g != nil {
		if len(g.Lost) == 0 {
			p.Summary = fmt.Sprintf("recover %s: the guardian sees no lost instance (%s); the workflow checks again", cluster, g.State)
		}
		whole := guard.LosingWhole(guard.Assessment{Lost: g.Lost, Known: g.Known, Primaries: g.Primaries}, g.Going)
		for _, sh := range whole {
			var ords []string
			for _, o := range slices.Sorted(maps.Keys(g.Known)) {
				if g.Known[o].Shard == sh {
					ords = append(ords, strconv.Itoa(o))
				}
			}
			going := ""
			if slices.ContainsFunc(g.Going, func(o int) bool { return g.Known[o].Shard == sh }) {
				going = "wait until those still shutting down have gone, "
			}
			p.Steps = append(p.Steps, fmt.Sprintf("shard-%d lost every instance (ordinals %s): %screate them together on their volumes, "+
				"wait until the shard has a primary (its former primary's instance manager decides who serves; without the former primary's "+
				"data the replica furthest ahead takes its place), meet them with the cluster, replicas in sync", sh, strings.Join(ords, ", "), going))
		}
		for _, l := range g.Lost {
			if slices.Contains(whole, l.Shard) {
				continue
			}
			p.Steps = append(p.Steps, fmt.Sprintf("shard-%d ordinal %d: %s -> recreate it as a replica of the shard's primary, wait in sync",
				l.Shard, l.Ordinal, l.Reason))
		}
	}
	p.Steps = append(p.Steps, "relabel roles; switch a shard over if its primary shares a zone with a replica")
	return p
}

// switchoverEntry admits a switchover: guard.PlanSwitchover on the observed
// state. It runs on a degraded cluster too (moving a primary away from a
// shared zone is part of a repair); a shard without a live primary is
// refused with the way out (recover).
func switchoverEntry() Entry {
	return Entry{
		Type: operation.Switchover,
		Validate: func(r *Request, _ planner.Limits) *Error {
			var errs field.ErrorList
			if r.Switchover.Shard == nil {
				errs = append(errs, field.Required(field.NewPath("shard"), "switchover needs the shard"))
			} else if *r.Switchover.Shard < 0 {
				errs = append(errs, field.Invalid(field.NewPath("shard"), *r.Switchover.Shard, "must be >= 0"))
			}
			if r.Switchover.To != nil && *r.Switchover.To < 0 {
				errs = append(errs, field.Invalid(field.NewPath("to"), *r.Switchover.To, "must be >= 0"))
			}
			if len(errs) > 0 {
				return invalid("body.", errs)
			}
			return nil
		},
		Observe: observeExisting,
		Plan: func(r *Request, l Live, _ planner.Limits) (planner.Plan, error) {
			sp, err := planSwitchover(r, l)
			if err != nil {
				return planner.Plan{}, &Error{Kind: Conflict, Message: err.Error()}
			}
			return sp.Plan(), nil
		},
		Start: func(r *Request, l Live, _ planner.Plan, _ planner.Limits, m operation.Meta) Start {
			// Pure and on the same Live: the plan Plan admitted.
			sp, _ := planSwitchover(r, l)
			return Start{Workflow: workflows.Switchover, WorkflowID: workflows.WorkflowID(m.Namespace, m.Cluster),
				Input: workflows.SwitchoverInput{Meta: m, Shard: sp.Shard, To: switchoverTo(r), AllowSharedZones: r.AllowSharedZones, Plan: sp}}
		},
	}
}

// switchoverTo is the input's To: -1 lets the plan pick.
func switchoverTo(r *Request) int {
	if r.Switchover.To == nil {
		return -1
	}
	return *r.Switchover.To
}

func planSwitchover(r *Request, l Live) (guard.SwitchoverPlan, error) {
	return guard.PlanSwitchover(l.State, *r.Switchover.Shard, switchoverTo(r), r.AllowSharedZones)
}
