package admission_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/admission"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/workflows"
)

// degraded is world(3) with shard 2's replica (ordinal 5) lost: its Pod is
// gone and Redis reports the cluster not ok.
func degraded() clusterstate.ObserveResult {
	w := world(3, "redis:7.0")
	w.State.Instances = slices.DeleteFunc(w.State.Instances, func(i planner.Instance) bool { return i.Ordinal == 5 })
	w.Kube = w.Kube[:5]
	w.State.Health.ClusterStateOK, w.State.Health.AllConnected = false, false
	return w
}

// TestDegradedAdmission: on a degraded cluster the repairs (recover,
// switchover) and what needs no whole cluster (backup, delete) are
// admitted; scale and upgrade are refused (409) naming `dayops cluster
// recover`.
func TestDegradedAdmission(t *testing.T) {
	store := backupOf(t)
	reg := admission.New(admission.Sources{Cluster: scripted{degraded()}, Backups: store,
		Health: guardianSees{{Ordinal: 5, Shard: 2, Pod: "orders-5", Reason: "Pod orders-5 is gone"}}}, planner.DefaultLimits)
	on := func(t operation.Type) admission.Request {
		return admission.Request{Type: t, Namespace: "default", Cluster: "orders"}
	}
	sw := on(operation.Switchover)
	sw.Switchover.Shard = intp(0)
	scale := on(operation.ScaleShards)
	scale.Shards = 4
	replicas := on(operation.ScaleReplicas)
	replicas.ReplicasPerShard = intp(2)
	up := on(operation.Upgrade)
	up.Upgrade = spec.Upgrade{Image: "redis:7.2", AutoApprove: true}
	for name, tc := range map[string]struct {
		req     admission.Request
		refused bool
	}{
		"recover":        {on(operation.Recover), false},
		"switchover":     {sw, false},
		"backup":         {on(operation.Backup), false},
		"delete":         {on(operation.Delete), false},
		"scale-shards":   {scale, true},
		"scale-replicas": {replicas, true},
		"upgrade":        {up, true},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := reg.Admit(t.Context(), tc.req)
			if !tc.refused {
				if err != nil {
					t.Fatalf("refused on a degraded cluster: %v", err)
				}
				if tc.req.Type == operation.Recover && !strings.Contains(strings.Join(a.Plan.Steps, "\n"), "ordinal 5") {
					t.Errorf("the recover plan does not list the lost instance: %q", a.Plan.Steps)
				}
				return
			}
			var e *admission.Error
			if !errors.As(err, &e) || e.Kind != admission.Conflict {
				t.Fatalf("want a Conflict, got %v", err)
			}
			if msg := fmt.Sprint(e.Errs.ToAggregate()); !strings.Contains(msg, "dayops cluster recover orders") {
				t.Errorf("the refusal does not name the way out: %s", msg)
			}
		})
	}
}

// TestSelfHealRefusals: the request's own faults are Invalid, a missing
// cluster NotFound, a shard that cannot switch over Conflict.
func TestSelfHealRefusals(t *testing.T) {
	reg := admission.New(admission.Sources{Cluster: scripted{world(3, "redis:7.0")}}, planner.DefaultLimits)
	for name, tc := range map[string]struct {
		req  admission.Request
		want admission.Kind
	}{
		"switchover without shard": {admission.Request{Type: operation.Switchover, Namespace: "default", Cluster: "orders"}, admission.Invalid},
		"switchover negative to": {admission.Request{Type: operation.Switchover, Namespace: "default", Cluster: "orders",
			Switchover: admission.SwitchoverOptions{Shard: intp(0), To: intp(-2)}}, admission.Invalid},
		"switchover unknown cluster": {admission.Request{Type: operation.Switchover, Namespace: "default", Cluster: "nope",
			Switchover: admission.SwitchoverOptions{Shard: intp(0)}}, admission.NotFound},
		"switchover to a primary": {admission.Request{Type: operation.Switchover, Namespace: "default", Cluster: "orders",
			Switchover: admission.SwitchoverOptions{Shard: intp(0), To: intp(0)}}, admission.Conflict},
		"switchover no such shard": {admission.Request{Type: operation.Switchover, Namespace: "default", Cluster: "orders",
			Switchover: admission.SwitchoverOptions{Shard: intp(7)}}, admission.Conflict},
		"recover unknown cluster": {admission.Request{Type: operation.Recover, Namespace: "default", Cluster: "nope"}, admission.NotFound},
		"recover bad name":        {admission.Request{Type: operation.Recover, Namespace: "default", Cluster: "Bad_Name"}, admission.Invalid},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := reg.Admit(t.Context(), tc.req)
			var e *admission.Error
			if !errors.As(err, &e) || e.Kind != tc.want {
				t.Fatalf("want kind %d, got %v", tc.want, err)
			}
		})
	}
}

// planDiverged collects the PlanDiverged payloads recorded.
func planDiverged(events *[]string) func(auditlog.RecordInput) {
	return func(in auditlog.RecordInput) {
		for _, ev := range in.Events {
			if ev.Type == "PlanDiverged" {
				*events = append(*events, string(ev.Payload))
			}
		}
	}
}

// TestSwitchoverPlanDiverged: a fresh switchover that promotes another
// replica (or the same one at another address) stops before the handover;
// one that differs in wording runs the admitted plan. Both are recorded.
func TestSwitchoverPlanDiverged(t *testing.T) {
	req := admission.Request{Type: operation.Switchover, Namespace: "default", Cluster: "orders",
		Switchover: admission.SwitchoverOptions{Shard: intp(0)}}
	for name, tc := range map[string]struct {
		fresh      func() clusterstate.ObserveResult
		tamper     func(*guard.SwitchoverPlan)
		wantErr    string
		wantAction string
	}{
		"structure": {func() clusterstate.ObserveResult {
			w := world(3, "redis:7.0")
			w.State.Instances[1].Addr = "10.244.0.99:6379" // orders-1 came back elsewhere
			return w
		}, nil, workflows.ErrTypePlanDiverged, "stop"},
		"detail": {func() clusterstate.ObserveResult { return world(3, "redis:7.0") },
			func(p *guard.SwitchoverPlan) { p.Steps = append(p.Steps, "a step the user saw") }, "stop here", "continue"},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := admission.New(admission.Sources{Cluster: scripted{world(3, "redis:7.0")}}, planner.DefaultLimits).Admit(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			st := a.Start(operation.Meta{OperationID: "op", Type: a.Type, Namespace: "default", Cluster: "orders"})
			in := st.Input.(workflows.SwitchoverInput)
			if tc.tamper != nil {
				tc.tamper(&in.Plan)
			}
			var events []string
			e := env(t, tc.fresh(), planDiverged(&events))
			e.ExecuteWorkflow(st.Workflow, in)
			if err := e.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want an error with %q, got %v", tc.wantErr, err)
			}
			if len(events) != 1 || !strings.Contains(events[0], `"action":"`+tc.wantAction+`"`) {
				t.Fatalf("want one PlanDiverged with action %s, got %v", tc.wantAction, events)
			}
		})
	}
}

// TestRecoverPlanDiverged: instances lost since admission are recorded as
// a PlanDiverged detail, and recover goes on with what is lost now.
func TestRecoverPlanDiverged(t *testing.T) {
	w := degraded()
	reg := admission.New(admission.Sources{Cluster: scripted{w},
		Health: guardianSees{{Ordinal: 5, Shard: 2, Pod: "orders-5", Reason: "Pod orders-5 is gone"}}}, planner.DefaultLimits)
	a, err := reg.Admit(t.Context(), admission.Request{Type: operation.Recover, Namespace: "default", Cluster: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	st := a.Start(operation.Meta{OperationID: "op", Type: a.Type, Namespace: "default", Cluster: "orders"})
	var events []string
	sp := w.State.Spec
	e := envGuard(t, w, func(n int) (guardian.Observation, error) {
		if n > 0 {
			return guardian.Observation{}, errStop
		}
		return guardian.Observation{Spec: &sp, Assessment: guard.Assessment{Lost: []guard.Lost{
			{Ordinal: 3, Shard: 1, Pod: "orders-3"}, {Ordinal: 5, Shard: 2, Pod: "orders-5"}}}}, nil
	}, planDiverged(&events))
	e.ExecuteWorkflow(st.Workflow, st.Input)
	if err := e.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "stop here") {
		t.Fatalf("want the test's stop after the check, got %v", err)
	}
	if len(events) != 1 || !strings.Contains(events[0], `"action":"continue"`) || !strings.Contains(events[0], `"lost"`) {
		t.Fatalf("want one PlanDiverged on lost with action continue, got %v", events)
	}
}

// TestKubeOnlyRefusals: delete and recover read Kubernetes only; a failed
// read is Unavailable and a cluster of which nothing is there NotFound, for
// both. Instances without a spec are NotFound for delete (it plans from the
// spec) but not for recover.
func TestKubeOnlyRefusals(t *testing.T) {
	w := world(3, "redis:7.0")
	noSpec := w.State
	noSpec.Spec = spec.Cluster{}
	for name, tc := range map[string]struct {
		src  objectsOnly
		op   operation.Type
		want admission.Kind // -1: admitted
	}{
		"delete, Kubernetes down":  {objectsOnly{err: errors.New("connection refused")}, operation.Delete, admission.Unavailable},
		"recover, Kubernetes down": {objectsOnly{err: errors.New("connection refused")}, operation.Recover, admission.Unavailable},
		"delete, nothing there":    {objectsOnly{}, operation.Delete, admission.NotFound},
		"recover, nothing there":   {objectsOnly{}, operation.Recover, admission.NotFound},
		"delete, no spec":          {objectsOnly{obs: admission.Observation{Exists: true, State: noSpec}}, operation.Delete, admission.NotFound},
		"recover, no spec":         {objectsOnly{obs: admission.Observation{Exists: true, State: noSpec}}, operation.Recover, -1},
	} {
		t.Run(name, func(t *testing.T) {
			tc.src.scripted = scripted{w}
			reg := admission.New(admission.Sources{Cluster: tc.src}, planner.DefaultLimits)
			_, err := reg.Admit(t.Context(), admission.Request{Type: tc.op, Namespace: "default", Cluster: "orders"})
			var e *admission.Error
			switch {
			case tc.want == -1 && err != nil:
				t.Fatalf("want admitted, got %v", err)
			case tc.want != -1 && (!errors.As(err, &e) || e.Kind != tc.want):
				t.Fatalf("want kind %d, got %v", tc.want, err)
			}
		})
	}
}

// TestPlanRecoverShardLostWhole: a shard that lost every instance is one
// step (created together on their volumes), not one replica step per
// instance: there is no primary to replicate.
func TestPlanRecoverShardLostWhole(t *testing.T) {
	known := map[int]guard.Member{0: {Shard: 0, Role: "primary"}, 1: {Shard: 1, Role: "primary"},
		2: {Shard: 0, Role: "replica"}, 3: {Shard: 1, Role: "replica"}}
	g := &admission.GuardianView{State: "Degraded", Known: known, Primaries: map[int]int{1: 1}, Lost: []guard.Lost{
		{Ordinal: 0, Shard: 0, Reason: "pod 0 of shard-0 is gone"}, {Ordinal: 2, Shard: 0, Reason: "pod 2 of shard-0 is gone"},
		{Ordinal: 3, Shard: 1, Reason: "pod 3 of shard-1 is gone"}}}
	middleSteps(t, admission.PlanRecover("default/orders", g),
		"shard-0 lost every instance (ordinals 0, 2): create them together on their volumes",
		"shard-1 ordinal 3: pod 3 of shard-1 is gone -> recreate it as a replica")
	// Shard 1's replica is gone and its primary's Pod shutting down (the
	// shard's Pods deleted together): the recover waits for it and takes
	// the shard for lost whole, and the plan says so.
	g.Going = []int{1}
	middleSteps(t, admission.PlanRecover("default/orders", g),
		"shard-0 lost every instance (ordinals 0, 2): create them together on their volumes",
		"shard-1 lost every instance (ordinals 1, 3): wait until those still shutting down have gone, create them together on their volumes")
}

// middleSteps checks that p's steps between the first (closing open slots)
// and the last (the relabel) start with want, one by one.
func middleSteps(t *testing.T, p planner.Plan, want ...string) {
	t.Helper()
	if len(p.Steps) != len(want)+2 {
		t.Fatalf("steps %q, want the close, %d and the relabel", p.Steps, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(p.Steps[1+i], w) {
			t.Errorf("step %d: %q, want it to start with %q", 1+i, p.Steps[1+i], w)
		}
	}
}
