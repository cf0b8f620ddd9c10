package admission_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/backup"
	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/admission"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/redis/rdb"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
)

// world is a healthy cluster: shards 0..n-1, one replica each, the even
// slot split, three zones, every Pod on the spec hash of image.
func world(shards int, image string) clusterstate.ObserveResult {
	c := spec.Cluster{Name: "orders", Namespace: "default", Shards: shards, ReplicasPerShard: 1, Image: image}
	c.Default()
	st := planner.State{Spec: c, Slots: map[int]topology.Ranges{}, Zones: []string{"zone-a", "zone-b", "zone-c"},
		NextOrdinal: 2 * shards, Health: planner.Health{ClusterStateOK: true, AllConnected: true}}
	var pods []kube.InstanceStatus
	for s := range shards {
		for j, role := range []topology.Role{topology.RolePrimary, topology.RoleReplica} {
			ord := 2*s + j
			ip := fmt.Sprintf("10.244.0.%d", ord+2)
			st.Instances = append(st.Instances, planner.Instance{Instance: topology.Instance{Ordinal: ord, Shard: s, Role: role,
				Addr: ip + ":6379", NodeID: fmt.Sprintf("n%d-%d", s, j), Zone: st.Zones[(s+j)%3]}, Pod: fmt.Sprintf("orders-%d", ord),
				Ready: true, InSync: role == topology.RoleReplica, MaxMemory: 1 << 30, UsedMemory: 1 << 20, Image: image})
			pods = append(pods, kube.InstanceStatus{Ordinal: ord, Shard: s, Pod: fmt.Sprintf("orders-%d", ord), PodIP: ip,
				Role: role, Ready: true, Zone: st.Zones[(s+j)%3], SpecHash: hashOf(c)})
		}
	}
	for i, r := range topology.EvenSplit(shards) {
		st.Slots[i] = topology.Ranges{r}
	}
	return clusterstate.ObserveResult{State: st, Kube: pods}
}

func hashOf(c spec.Cluster) string { return "hash-" + c.Image }

// scripted is the admission side of world (and "absent" for other names).
type scripted struct{ obs clusterstate.ObserveResult }

func (s scripted) Observe(_ context.Context, ns, name string, _ []int) (admission.Observation, error) {
	if name != s.obs.State.Spec.Name {
		return admission.Observation{}, fmt.Errorf("%s/%s: %w", ns, name, admission.ErrNotFound)
	}
	return admission.Observation{Exists: true, State: s.obs.State, SpecHashes: kube.SpecHashes(s.obs.Kube)}, nil
}

func (s scripted) Objects(ctx context.Context, ns, name string) (admission.Observation, error) {
	o, err := s.Observe(ctx, ns, name, nil)
	if errors.Is(err, admission.ErrNotFound) {
		return admission.Observation{}, nil
	}
	o.State = clusterstate.KubeState(kube.ObserveResult{Spec: &s.obs.State.Spec, Instances: s.obs.Kube, NextOrdinal: s.obs.State.NextOrdinal})
	return o, err
}

// objectsOnly answers Objects with a fixed observation or error.
type objectsOnly struct {
	scripted
	obs admission.Observation
	err error
}

func (o objectsOnly) Objects(context.Context, string, string) (admission.Observation, error) {
	return o.obs, o.err
}

func (s scripted) Zones(context.Context, string) ([]string, error) {
	return []string{"zone-a", "zone-b", "zone-c"}, nil
}

func (scripted) SpecHash(c spec.Cluster) string { return hashOf(c) }

// backupOf writes a two-shard backup of world into a directory store.
func backupOf(t *testing.T) backupstore.Store {
	st, err := backupstore.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := world(2, "redis:7.0")
	m := backupstore.Manifest{Version: backupstore.ManifestVersion, ID: "b1", Namespace: "default", Cluster: "orders",
		Spec: w.State.Spec, TotalKeys: 42}
	for s := range 2 {
		key := backupstore.ShardKey("b1", s)
		obj, err := st.Put(t.Context(), key, strings.NewReader(fmt.Sprintf("rdb of shard %d", s)))
		if err != nil {
			t.Fatal(err)
		}
		m.Shards = append(m.Shards, backupstore.ShardFile{Shard: s, Slots: w.State.Slots[s], Key: key, Size: obj.Size, Keys: 21})
	}
	if err := backupstore.WriteManifest(t.Context(), st, m); err != nil {
		t.Fatal(err)
	}
	return st
}

var errStop = temporal.NewNonRetryableApplicationError("stop here: the plan is what the test checks", "TestStop", nil)

// env runs workflows against obs; every step after planning that the test
// does not script ends the operation (stopAt).
func env(t *testing.T, obs clusterstate.ObserveResult, record ...func(auditlog.RecordInput)) *testsuite.TestWorkflowEnvironment {
	return envGuard(t, obs, nil, record...)
}

// envGuard is env with the guardian's observations scripted: the n-th
// ObserveGuard (from 0) answers guardObs(n); nil stops at the first.
func envGuard(t *testing.T, obs clusterstate.ObserveResult, guardObs func(n int) (guardian.Observation, error),
	record ...func(auditlog.RecordInput)) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	e.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	var kubeActs *kube.Activities
	var stateActs *clusterstate.Activities
	var auditActs *auditlog.Activities
	var backupActs *backup.Activities
	var redisActs *redisops.Activities
	var guardActs *guardian.Activities
	workflows.Register(e, workflows.Activities{Kube: &kube.Activities{}, Redis: &redisops.Activities{}, Audit: &auditlog.Activities{},
		State: &clusterstate.Activities{}, Backup: &backup.Activities{}, Guardian: &guardian.Activities{}})
	e.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in auditlog.RecordInput) (auditlog.RecordResult, error) {
			for _, f := range record {
				f(in)
			}
			return auditlog.RecordResult{}, nil
		})
	e.OnActivity(stateActs.ObserveCluster, mock.Anything, mock.Anything).Return(obs, nil)
	e.OnActivity(kubeActs.Observe, mock.Anything, mock.Anything).Return(kube.ObserveResult{Spec: &obs.State.Spec, Instances: obs.Kube, NextOrdinal: obs.State.NextOrdinal}, nil)
	e.OnActivity(kubeActs.SpecHashes, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in kube.SpecHashesInput) (kube.SpecHashesResult, error) {
			var out kube.SpecHashesResult
			for _, c := range in.Specs {
				out.Hashes = append(out.Hashes, hashOf(c))
			}
			return out, nil
		})
	e.OnActivity(kubeActs.EnsureConfig, mock.Anything, mock.Anything).Return(kube.EnsureConfigResult{}, errStop).Maybe()
	e.OnActivity(kubeActs.CheckInstancesSteady, mock.Anything, mock.Anything).Return(kube.SteadyResult{}, errStop).Maybe()
	e.OnActivity(kubeActs.DeleteClusterObjects, mock.Anything, mock.Anything).Return(nil).Maybe()
	e.OnActivity(redisActs.MigrateSlots, mock.Anything, mock.Anything).Return(redisops.MigrateResult{}, errStop).Maybe()
	e.OnActivity(backupActs.VerifyBackupFiles, mock.Anything, mock.Anything).Return(backupstore.Manifest{}, errStop).Maybe()
	e.OnActivity(backupActs.SnapshotCluster, mock.Anything, mock.Anything).Return(rdb.SnapshotResult{}, errStop).Maybe()
	e.OnActivity(backupActs.DeleteBackupFiles, mock.Anything, mock.Anything).Return(backup.DeleteBackupResult{}, nil).Maybe()
	e.OnActivity(redisActs.Handover, mock.Anything, mock.Anything).Return(redisops.HandoverResult{}, errStop).Maybe()
	if guardObs == nil {
		guardObs = func(int) (guardian.Observation, error) { return guardian.Observation{}, errStop }
	}
	calls := 0
	e.OnActivity(guardActs.ObserveGuard, mock.Anything, mock.Anything).Return(
		func(context.Context, guardian.ObserveInput) (guardian.Observation, error) {
			calls++
			return guardObs(calls - 1)
		}).Maybe()
	return e
}

func intp(i int) *int { return &i }

// guardianSees is a guardian that answers with lost instances.
type guardianSees []guard.Lost

func (g guardianSees) Lost(context.Context, string, string) (admission.GuardianView, bool) {
	return admission.GuardianView{State: "Degraded", Lost: g, Known: map[int]guard.Member{}}, true
}

// TestDryRunPlanIsThePlanThatRuns admits each operation type as a dry run,
// starts the workflow with the input the same admission builds, and checks
// that the plan the workflow runs (query plan; Result.Plan when it
// completes) equals the dry run's, with non-default limits travelling in the
// input.
func TestDryRunPlanIsThePlanThatRuns(t *testing.T) {
	store := backupOf(t)
	lim := planner.DefaultLimits
	lim.HeadroomFactor, lim.MaxKeyBytes = 1.2, 64<<20
	cases := []struct {
		name string
		obs  clusterstate.ObserveResult
		req  admission.Request
	}{
		{"create", world(3, "redis:7.0"), admission.Request{Type: operation.Create,
			Spec: spec.Cluster{Name: "fresh", Namespace: "default", Shards: 3, ReplicasPerShard: 1}}},
		{"scale-out", world(3, "redis:7.0"), admission.Request{Type: operation.ScaleShards, Namespace: "default", Cluster: "orders", Shards: 4}},
		{"scale-in", world(4, "redis:7.0"), admission.Request{Type: operation.ScaleShards, Namespace: "default", Cluster: "orders", Shards: 3}},
		{"scale-replicas", world(3, "redis:7.0"), admission.Request{Type: operation.ScaleReplicas, Namespace: "default", Cluster: "orders", ReplicasPerShard: intp(2)}},
		{"upgrade", world(3, "redis:7.0"), admission.Request{Type: operation.Upgrade, Namespace: "default", Cluster: "orders",
			Upgrade: spec.Upgrade{Image: "redis:7.2", AutoApprove: true}}},
		{"delete", world(3, "redis:7.0"), admission.Request{Type: operation.Delete, Namespace: "default", Cluster: "orders", DeleteVolumes: true}},
		{"backup", world(3, "redis:7.0"), admission.Request{Type: operation.Backup, Namespace: "default", Cluster: "orders",
			Backup: admission.BackupOptions{KeepLast: 3}}},
		{"restore-same-shards", world(3, "redis:7.0"), admission.Request{Type: operation.Restore,
			Restore: admission.RestoreOptions{Backup: "b1", Name: "copy"}}},
		{"restore-replay", world(3, "redis:7.0"), admission.Request{Type: operation.Restore,
			Restore: admission.RestoreOptions{Backup: "b1", Name: "copy", Shards: 3, Compare: "sample"}}},
		{"delete-backup", world(3, "redis:7.0"), admission.Request{Type: operation.DeleteBackup, BackupID: "b1"}},
		{"recover", world(3, "redis:7.0"), admission.Request{Type: operation.Recover, Namespace: "default", Cluster: "orders"}},
		{"switchover", world(3, "redis:7.0"), admission.Request{Type: operation.Switchover, Namespace: "default", Cluster: "orders",
			Switchover: admission.SwitchoverOptions{Shard: intp(1)}}},
		{"switchover-to", world(3, "redis:7.0"), admission.Request{Type: operation.Switchover, Namespace: "default", Cluster: "orders",
			Switchover: admission.SwitchoverOptions{Shard: intp(2), To: intp(5)}}},
	}
	lost := guardianSees{{Ordinal: 3, Shard: 1, Pod: "orders-3", Reason: "Pod orders-3 is gone"}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := admission.New(admission.Sources{Cluster: scripted{tc.obs}, Backups: store, Health: lost}, lim)
			a, err := reg.Admit(t.Context(), tc.req)
			if err != nil {
				t.Fatalf("admit: %v", err)
			}
			m := operation.Meta{OperationID: "0190f0e0-0000-7000-8000-000000000001", Type: a.Type, Namespace: a.Namespace,
				Cluster: a.Cluster, Actor: "test", RequestedAt: time.Unix(0, 0).UTC()}
			st := a.Start(m)
			e := env(t, tc.obs)
			e.ExecuteWorkflow(st.Workflow, st.Input)
			if !e.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			if err := e.GetWorkflowError(); err != nil && !strings.Contains(err.Error(), "stop here") {
				t.Fatalf("workflow failed before it ran its plan: %v", err)
			}
			v, err := e.QueryWorkflow(workflows.QueryPlan)
			if err != nil {
				t.Fatal(err)
			}
			var ran *planner.Plan
			if err := v.Get(&ran); err != nil {
				t.Fatal(err)
			}
			if ran == nil {
				t.Fatal("the workflow reports no plan")
			}
			if d := cmp.Diff(a.Plan, *ran); d != "" {
				t.Errorf("the plan that runs differs from the dry run's (-dry run +ran):\n%s", d)
			}
		})
	}
}

// TestPlanDiverged: a fresh plan that differs from the admitted one in
// structure stops the operation before any change, one that differs in
// detail runs the admitted plan; both are recorded as PlanDiverged.
func TestPlanDiverged(t *testing.T) {
	req := admission.Request{Type: operation.ScaleShards, Namespace: "default", Cluster: "orders", Shards: 4}
	for _, tc := range []struct {
		name       string
		fresh      func() clusterstate.ObserveResult
		tamper     func(*planner.Plan)
		wantErr    string
		wantAction string
	}{
		{"structure", func() clusterstate.ObserveResult {
			w := world(3, "redis:7.0")
			w.State.NextOrdinal = 9 // ordinals were used since admission
			return w
		}, nil, workflows.ErrTypePlanDiverged, "stop"},
		{"detail", func() clusterstate.ObserveResult { return world(3, "redis:7.0") },
			func(p *planner.Plan) { p.Steps = append(p.Steps, "a step the user saw") }, "stop here", "continue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := admission.New(admission.Sources{Cluster: scripted{world(3, "redis:7.0")}}, planner.DefaultLimits).Admit(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			st := a.Start(operation.Meta{OperationID: "op", Type: a.Type, Namespace: "default", Cluster: "orders"})
			in := st.Input.(workflows.ScaleShardsInput)
			if tc.tamper != nil {
				tc.tamper(in.Plan)
			}
			var events []string
			e := env(t, tc.fresh(), func(in auditlog.RecordInput) {
				for _, ev := range in.Events {
					if ev.Type == "PlanDiverged" {
						events = append(events, string(ev.Payload))
					}
				}
			})
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
