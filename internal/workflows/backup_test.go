package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/backup"
	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/redis/rdb"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
)

func backupEnv(t *testing.T, rec *recorder) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	env := scaleEnv(t, rec, func(_ context.Context, in redisops.MigrateInput) (redisops.MigrateResult, error) { return migrated(in) })
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	env.RegisterActivity(&backup.Activities{})
	return env
}

func TestBackupWorkflow(t *testing.T) {
	rec := &recorder{}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	Register(env, Activities{Kube: &kube.Activities{}, Redis: &redisops.Activities{}, Audit: &auditlog.Activities{},
		State: &clusterstate.Activities{}, Backup: &backup.Activities{}})
	env.OnActivity(stateActs.ObserveCluster, mock.Anything, mock.Anything).Return(world(3, 6), nil)
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(auditlog.RecordResult{}, nil)
	env.OnActivity(backupActs.SnapshotCluster, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in backup.SnapshotInput) (rdb.SnapshotResult, error) {
			rec.add(fmt.Sprintf("snapshot-%d-bound-%s", len(in.Targets), in.PauseBound))
			out := rdb.SnapshotResult{RedisVersion: "7.0.15", Consistency: backupstore.Consistency{ClusterConsistent: true, PausedMS: 3.5, PauseBoundMS: 1000}}
			for _, tg := range in.Targets {
				out.Shards = append(out.Shards, rdb.ShardSnapshot{Shard: tg.Shard, Addr: tg.Addr, Key: backupstore.ShardKey(in.BackupID, tg.Shard),
					Size: 100 + int64(tg.Shard), SHA256: fmt.Sprintf("sum%d", tg.Shard), Keys: 10 * int64(tg.Shard+1)})
			}
			return out, nil
		})
	var manifest backupstore.Manifest
	env.OnActivity(backupActs.WriteBackupManifest, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in backup.ManifestInput) error {
			manifest = in.Manifest
			rec.add("manifest")
			return nil
		})
	env.OnActivity(backupActs.ListExpiredBackups, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in backup.ExpiredInput) (backup.ExpiredResult, error) {
			rec.add(fmt.Sprintf("expired-keep-%d", in.Retention.KeepLast))
			return backup.ExpiredResult{IDs: []string{"old-1", "b-1"}}, nil
		})
	env.OnActivity(backupActs.DeleteBackupFiles, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in backup.DeleteBackupInput) (backup.DeleteBackupResult, error) {
			rec.add("delete-" + in.ID)
			return backup.DeleteBackupResult{}, nil
		})
	m := operation.Meta{OperationID: "b-1", Type: operation.Backup, Namespace: "default", Cluster: "orders", Actor: "alice", Reason: "nightly"}
	env.ExecuteWorkflow(Backup, BackupInput{Meta: m, PauseBound: 500 * time.Millisecond, Retention: backupstore.Retention{KeepLast: 2}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []string{"snapshot-3-bound-500ms", "manifest", "expired-keep-2", "delete-old-1"}
	if !slices.Equal(rec.calls, want) {
		t.Errorf("calls %v, want %v", rec.calls, want)
	}
	if manifest.ID != "b-1" || manifest.Actor != "alice" || manifest.Reason != "nightly" || len(manifest.Shards) != 3 ||
		manifest.TotalKeys != 60 || manifest.TotalBytes != 303 || !manifest.Consistency.ClusterConsistent || manifest.RedisVersion != "7.0.15" {
		t.Errorf("manifest %+v", manifest)
	}
	for i, f := range manifest.Shards {
		if f.Shard != i || f.PrimaryNodeID != fmt.Sprintf("n%d-0", i) || len(f.ReplicaIDs) != 1 || f.Slots.String() != topology.EvenSplit(3)[i].String() {
			t.Errorf("shard file %d: %+v", i, f)
		}
	}
	var res Result
	_ = env.GetWorkflowResult(&res)
	if res.Outcome != OutcomeSucceeded || !strings.Contains(res.Message, "one consistency point") || !strings.Contains(res.Message, "retention deleted") {
		t.Errorf("result %+v", res)
	}
}

func testManifest() backupstore.Manifest {
	c := spec.Cluster{Name: "orders", Namespace: "default", Shards: 3, ReplicasPerShard: 1}
	c.Default()
	m := backupstore.Manifest{ID: "b-1", Namespace: "default", Cluster: "orders", Spec: c}
	// Slots not in the even split, to see they are the ones assigned.
	ranges := []topology.Ranges{{{Start: 0, End: 99}, {Start: 10000, End: 16383}}, {{Start: 100, End: 5000}}, {{Start: 5001, End: 9999}}}
	for i, rs := range ranges {
		m.Shards = append(m.Shards, backupstore.ShardFile{Shard: i, Slots: rs, Key: backupstore.ShardKey("b-1", i), Size: 1000, Keys: 500})
		m.TotalKeys += 500
		m.TotalBytes += 1000
	}
	return m
}

func restoreInput(t *testing.T, m backupstore.Manifest, shards int) RestoreInput {
	t.Helper()
	c := m.Spec
	c.Name, c.Shards = "copy", shards
	plan, err := planner.PlanCreate(planner.CreateRequest{Spec: c, Zones: []string{"zone-a", "zone-b", "zone-c"}}, planner.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if shards == len(m.Shards) {
		for i, f := range m.Shards {
			plan.Assign[i] = f.Slots
		}
	}
	return RestoreInput{Meta: operation.Meta{OperationID: "r-1", Type: operation.Restore, Namespace: "default", Cluster: "copy", Actor: "alice"},
		BackupID: m.ID, Spec: c, Plan: plan, ReplayKeysPerStep: 1000}
}

func mockRestore(env *testsuite.TestWorkflowEnvironment, rec *recorder, m backupstore.Manifest, verifyErr error, assigned *[]redisops.SlotAssignment) {
	env.OnActivity(backupActs.VerifyBackupFiles, mock.Anything, mock.Anything).Return(
		func(context.Context, backup.VerifyBackupInput) (backupstore.Manifest, error) {
			rec.add("verify-files")
			return m, verifyErr
		})
	env.OnActivity(backupActs.EnsureTemporaries, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in backup.TemporariesInput) (backup.TemporariesResult, error) {
			rec.add(fmt.Sprintf("temporaries-%d", len(in.Shards)))
			out := backup.TemporariesResult{Addrs: map[int]string{}}
			for _, s := range in.Shards {
				out.Addrs[s] = fmt.Sprintf("10.244.9.%d:6379", s)
			}
			return out, nil
		})
	env.OnActivity(backupActs.LoadTemporary, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in backup.LoadInput) (backup.LoadResult, error) {
			rec.add("load-" + in.File.Key)
			return backup.LoadResult{Bytes: in.File.Size, Keys: in.File.Keys}, nil
		})
	env.OnActivity(backupActs.EnsureRestoredInstances, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in backup.RestoredInstancesInput) error {
			rec.add(fmt.Sprintf("restored-instances-%d-sources-%d", len(in.Instances), len(in.Sources)))
			return nil
		})
	env.OnActivity(redisActs.AssignSlots, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.AssignSlotsInput) (redisops.AssignSlotsResult, error) {
			*assigned = in.Assign
			rec.add("assign")
			return redisops.AssignSlotsResult{}, nil
		})
	env.OnActivity(backupActs.ReplayKeys, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in backup.ReplayInput) (rdb.ReplayResult, error) {
			rec.add("replay")
			out := rdb.ReplayResult{Sources: slices.Clone(in.Sources)}
			for i := range out.Sources {
				s := &out.Sources[i]
				if s.Done {
					continue
				}
				n := min(in.MaxKeys, 500-s.Keys)
				s.Keys += n
				out.Keys += n
				s.Done = s.Keys >= 500
			}
			return out, nil
		})
	env.OnActivity(backupActs.VerifyRestoredKeys, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in backup.VerifyInput) (backup.VerifyResult, error) {
			rec.add(fmt.Sprintf("verify-keys-%d", len(in.Files)))
			return backup.VerifyResult{}, nil
		})
	env.OnActivity(backupActs.DeleteTemporaries, mock.Anything, mock.Anything).Return(
		func(context.Context, backup.DeleteTemporariesInput) error { rec.add("delete-temporaries"); return nil })
}

func TestRestoreSameShardCount(t *testing.T) {
	rec := &recorder{}
	env := backupEnv(t, rec)
	m := testManifest()
	var assigned []redisops.SlotAssignment
	mockRestore(env, rec, m, nil, &assigned)
	env.ExecuteWorkflow(Restore, restoreInput(t, m, 3))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"verify-files", "temporaries-3", "restored-instances-6-sources-3", "assign", "attach-3", "services", "verify-keys-3", "delete-temporaries"} {
		if rec.index(c) < 0 {
			t.Errorf("no %s in %v", c, rec.calls)
		}
	}
	if rec.index("verify-files") > rec.index("config-shards-3") || rec.index("replay") >= 0 || rec.index("delete-temporaries") < rec.index("verify-keys-3") {
		t.Errorf("order: %v", rec.calls)
	}
	for i, a := range assigned {
		if a.Ranges.String() != m.Shards[i].Slots.String() {
			t.Errorf("shard-%d assigned %s, the backup had %s", i, a.Ranges, m.Shards[i].Slots)
		}
	}
}

func TestRestoreOtherShardCount(t *testing.T) {
	rec := &recorder{}
	env := backupEnv(t, rec)
	m := testManifest()
	var assigned []redisops.SlotAssignment
	mockRestore(env, rec, m, nil, &assigned)
	env.ExecuteWorkflow(Restore, restoreInput(t, m, 2))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res Result
	_ = env.GetWorkflowResult(&res)
	replays := 0
	for _, c := range rec.calls {
		if c == "replay" {
			replays++
		}
	}
	// 500 keys per source, at most 200 per source per step: 3 rounds.
	if replays != 1 && replays != 3 || rec.index("create-4-instances") < 0 || rec.index("restored-instances-4-sources-3") >= 0 {
		t.Errorf("calls %v", rec.calls)
	}
	if res.Progress.KeysMoved != 1500 || len(assigned) != 2 {
		t.Errorf("progress %+v, assigned %v", res.Progress, assigned)
	}
	if rec.index("replay") > rec.index("attach-2") {
		t.Errorf("replicas attached before the replay: %v", rec.calls)
	}
}

func TestRestoreCorruptBackupCreatesNothing(t *testing.T) {
	rec := &recorder{}
	env := backupEnv(t, rec)
	m := testManifest()
	var assigned []redisops.SlotAssignment
	mockRestore(env, rec, m, temporal.NewNonRetryableApplicationError("backup b-1: file b-1/shard-1.rdb is corrupt", backup.ErrTypeCorrupt, nil), &assigned)
	env.ExecuteWorkflow(Restore, restoreInput(t, m, 3))
	err := env.GetWorkflowError()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != backup.ErrTypeCorrupt || !strings.Contains(err.Error(), "shard-1.rdb") {
		t.Fatalf("error %v, want BackupCorrupt naming shard-1.rdb", err)
	}
	for _, c := range rec.calls {
		if c != "verify-files" && !strings.HasPrefix(c, "event-") && !strings.HasPrefix(c, "params-") {
			t.Errorf("a refused restore ran %s (calls %v)", c, rec.calls)
		}
	}
}
