package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/redis/slotmigrate"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/lifecycle"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
)

// world scripts the cluster the workflow sees: shards 0..n-1 with one
// replica each, primaries at 10.244.0.<2*shard>:6379 with node ID n<shard>.
func world(shards int, nextOrdinal int) clusterstate.ObserveResult {
	c := spec.Cluster{Name: "orders", Namespace: "default", Shards: shards, ReplicasPerShard: 1}
	c.Default()
	st := planner.State{Spec: c, Slots: map[int]topology.Ranges{}, Zones: []string{"zone-a", "zone-b", "zone-c"},
		NextOrdinal: nextOrdinal, Health: planner.Health{ClusterStateOK: true, AllConnected: true}}
	var kubes []kube.InstanceStatus
	for s := range shards {
		for j, role := range []topology.Role{topology.RolePrimary, topology.RoleReplica} {
			ord := 2*s + j
			addr := fmt.Sprintf("10.244.0.%d:6379", ord+2)
			st.Instances = append(st.Instances, planner.Instance{Instance: topology.Instance{Ordinal: ord, Shard: s, Role: role,
				Addr: addr, NodeID: fmt.Sprintf("n%d-%d", s, j), Zone: st.Zones[(s+j)%3]}, Pod: fmt.Sprintf("orders-%d", ord),
				Ready: true, InSync: role == topology.RoleReplica, MaxMemory: 1 << 30, UsedMemory: 1 << 20})
			kubes = append(kubes, kube.InstanceStatus{Ordinal: ord, Shard: s, Pod: fmt.Sprintf("orders-%d", ord), PodIP: addr[:len(addr)-5], Role: role, Ready: true})
		}
	}
	// Shards 0..2 own the even split of three (the state before scale-out).
	for i, r := range topology.EvenSplit(min(shards, 3)) {
		st.Slots[i] = topology.Ranges{r}
	}
	return clusterstate.ObserveResult{State: st, Kube: kubes}
}

type recorder struct {
	mu    sync.Mutex
	calls []string
	moves [][]topology.Move
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) index(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Index(r.calls, s)
}

func scaleEnv(t *testing.T, rec *recorder, migrate func(context.Context, redisops.MigrateInput) (redisops.MigrateResult, error)) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute}) // slow CI, not deadlock
	Register(env, Activities{Kube: &kube.Activities{}, Redis: &redisops.Activities{}, Hooks: nil, Audit: &auditlog.Activities{}, State: &clusterstate.Activities{}})
	observed := 0
	env.OnActivity(stateActs.ObserveCluster, mock.Anything, mock.Anything).Return(
		func(context.Context, clusterstate.ObserveInput) (clusterstate.ObserveResult, error) {
			observed++
			rec.add(fmt.Sprintf("observe-%d", observed))
			if observed == 1 {
				return world(3, 6), nil
			}
			return world(4, 8), nil
		})
	env.OnActivity(kubeActs.EnsureConfig, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in kube.EnsureConfigInput) (kube.EnsureConfigResult, error) {
			rec.add(fmt.Sprintf("config-shards-%d", in.Spec.Shards))
			return kube.EnsureConfigResult{}, nil
		})
	env.OnActivity(kubeActs.EnsureInstances, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in kube.EnsureInstancesInput) (kube.EnsureInstancesResult, error) {
			rec.add(fmt.Sprintf("create-%d-instances", len(in.Instances)))
			return kube.EnsureInstancesResult{}, nil
		})
	env.OnActivity(kubeActs.WaitInstancesReady, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in kube.WaitReadyInput) (kube.WaitReadyResult, error) {
			rec.add("wait-ready")
			var out kube.WaitReadyResult
			for _, o := range in.Ordinals {
				out.Instances = append(out.Instances, kube.InstanceStatus{Ordinal: o, PodIP: fmt.Sprintf("10.244.1.%d", o), Ready: true})
			}
			return out, nil
		})
	env.OnActivity(redisActs.Meet, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in redisops.MeetInput) (redisops.MeetResult, error) {
			rec.add(fmt.Sprintf("meet-%d-stateok-%v", len(in.Addrs), in.RequireStateOK))
			return redisops.MeetResult{}, nil
		})
	env.OnActivity(redisActs.AttachReplicas, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in redisops.AttachReplicasInput) (redisops.AttachReplicasResult, error) {
			rec.add(fmt.Sprintf("attach-%d", len(in.Pairs)))
			return redisops.AttachReplicasResult{}, nil
		})
	env.OnActivity(redisActs.RedisRoles, mock.Anything, mock.Anything).Return(redisops.RolesResult{}, nil)
	env.OnActivity(kubeActs.SetRoleLabels, mock.Anything, mock.Anything).Return(kube.SetLabelsResult{}, nil)
	env.OnActivity(kubeActs.EnsureServices, mock.Anything, mock.Anything).Return(
		func(context.Context, kube.EnsureServicesInput) error { rec.add("services"); return nil })
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in auditlog.RecordInput) (auditlog.RecordResult, error) {
			for _, e := range in.Events {
				rec.add("event-" + e.Type)
				if e.Type == audit.TypeOperationRequested {
					var p audit.OperationRequested
					_ = json.Unmarshal(e.Payload, &p)
					rec.add("params-" + string(p.Params))
				}
			}
			return auditlog.RecordResult{}, nil
		})
	env.OnActivity(redisActs.MigrateSlots, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in redisops.MigrateInput) (redisops.MigrateResult, error) {
			rec.mu.Lock()
			rec.moves = append(rec.moves, in.Moves)
			rec.mu.Unlock()
			rec.add("migrate")
			return migrate(ctx, in)
		})
	env.OnActivity(redisActs.CloseOpenSlots, mock.Anything, mock.Anything).Return(
		func(context.Context, redisops.CloseOpenSlotsInput) (slotmigrate.CloseOpenSlotsResult, error) {
			rec.add("close-open-slots")
			return slotmigrate.CloseOpenSlotsResult{}, nil
		})
	return env
}

func migrated(in redisops.MigrateInput) (redisops.MigrateResult, error) {
	n := 0
	for _, m := range in.Moves {
		n += m.Range.Len()
	}
	return redisops.MigrateResult{Progress: slotmigrate.Progress{SlotsTotal: n, SlotsDone: n, KeysMoved: int64(n) * 10, ElapsedMS: 100}}, nil
}

func TestScaleOut(t *testing.T) {
	rec := &recorder{}
	env := scaleEnv(t, rec, func(_ context.Context, in redisops.MigrateInput) (redisops.MigrateResult, error) { return migrated(in) })
	meta := operation.Meta{OperationID: "op-1", Type: operation.ScaleShards, Namespace: "default", Cluster: "orders", Actor: "alice"}
	env.ExecuteWorkflow(ScaleShards, ScaleShardsInput{Meta: meta, Shards: 4})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeSucceeded || res.Progress.SlotsMoved != 4096 || res.Progress.SlotsTotal != 4096 || res.Progress.KeysMoved != 40960 {
		t.Fatalf("result = %+v", res)
	}
	// The new shard is created, met (waiting for cluster_state ok), and its
	// replica synced before any slot moves.
	for _, before := range []string{"create-2-instances", "meet-8-stateok-true", "attach-1", "services"} {
		if i, m := rec.index(before), rec.index("migrate"); i < 0 || i > m {
			t.Errorf("%q must happen before the first migration (calls %v)", before, rec.calls)
		}
	}
	// Rounds of at most 512 slots per move, from the old primaries to n3-0.
	if len(rec.moves) != 3 {
		t.Errorf("migration rounds = %d, want 3 (1365/1366 slots per source in pieces of 512)", len(rec.moves))
	}
	for _, round := range rec.moves {
		for _, m := range round {
			if m.To != "n3-0" || m.Range.Len() > lifecycle.MigrateChunkSlots || !slices.Contains([]string{"n0-0", "n1-0", "n2-0"}, m.From) {
				t.Errorf("move %+v", m)
			}
		}
	}
	if rec.index("event-OperationCompleted") < 0 || rec.index("event-ShardAdded") < 0 || rec.index("event-SlotsMigrated") < 0 {
		t.Errorf("missing audit events in %v", rec.calls)
	}
}

func TestScaleOutCancelClosesOpenSlots(t *testing.T) {
	rec := &recorder{}
	env := scaleEnv(t, rec, func(ctx context.Context, in redisops.MigrateInput) (redisops.MigrateResult, error) {
		for { // a long migration that heartbeats, as the real one does, until cancelled
			activity.RecordHeartbeat(ctx, slotmigrate.Progress{SlotsDone: 1})
			select {
			case <-ctx.Done():
				return redisops.MigrateResult{}, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	env.SetTestTimeout(time.Minute)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, time.Second)
	meta := operation.Meta{OperationID: "op-2", Type: operation.ScaleShards, Namespace: "default", Cluster: "orders", Actor: "alice"}
	env.ExecuteWorkflow(ScaleShards, ScaleShardsInput{Meta: meta, Shards: 4})
	if err := env.GetWorkflowError(); err == nil {
		t.Fatal("a cancelled operation must end in error")
	}
	if rec.index("close-open-slots") < rec.index("migrate") || rec.index("close-open-slots") < 0 {
		t.Fatalf("open slots were not closed after the cancelled migration: %v", rec.calls)
	}
	if rec.index("event-OperationCancelled") < 0 {
		t.Fatalf("no OperationCancelled event: %v", rec.calls)
	}
}
