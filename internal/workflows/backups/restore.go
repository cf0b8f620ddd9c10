package backups

import (
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/activities/backup"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/redis/rdb"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
	"go.temporal.io/sdk/workflow"
)

// RestoreInput restores a backup into a new cluster. Meta names the new
// cluster.
type RestoreInput struct {
	Meta     flow.Meta `json:"meta"`
	BackupID string    `json:"backupId"`
	// Spec is the new cluster's spec (the backup's, renamed, with the
	// requested shard count), validated and defaulted by the API.
	Spec spec.Cluster `json:"spec"`
	// Plan is planner.PlanCreate of Spec; for the backup's shard count its
	// Assign is the backup's slot ranges.
	Plan planner.Plan `json:"plan"`
	// Compare asks for a value comparison after the key counts: "sample" or
	// "full" ("" or "counts": counts only).
	Compare string `json:"compare,omitempty"`
	Sample  int    `json:"sample,omitempty"`
	// ReplayKeysPerStep bounds the keys each source replays in one step, so
	// progress shows between steps (default 200,000).
	ReplayKeysPerStep int64 `json:"replayKeysPerStep,omitempty"`
	// Limits are the limits Plan was admitted with (nil in older inputs).
	Limits *planner.Limits `json:"limits,omitempty"`
}

// Restore creates a new cluster from a backup, with any shard count:
//
//  1. check every file's SHA-256 against the manifest before anything is
//     created (a missing or corrupt file ends the operation, naming it);
//  2. write the new cluster's ConfigMap and Secret, start one temporary
//     standalone instance per backup shard and load its RDB (served by the
//     worker over the replication protocol);
//  3. same shard count: each new primary copies its shard's RDB from the
//     temporary instance in an init container and loads it at start; the
//     slots are those of the backup. Other counts: the cluster starts empty
//     with an even split, and every key is replayed from the temporary
//     instances with pipelined RESTORE, TTLs kept;
//  4. replicas, roles, Services as for a new cluster; key counts per slot
//     range checked against the manifest (values too on request);
//  5. the temporary instances are deleted, also when a step failed.
func Restore(ctx workflow.Context, in RestoreInput) (flow.Result, error) {
	ctx, r, err := flow.Open(ctx, in.Meta)
	if err != nil {
		return flow.Result{}, err
	}
	r.Progress.StepsTotal = 14
	r.Plan = &in.Plan // the admitted plan: the workflow never plans a restore itself
	summary, temps, err := runRestore(ctx, r, in)
	if temps {
		// On a context a cancellation does not reach: the temporaries go also
		// when the restore was cancelled.
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		if derr := r.Exec(dctx, flow.LongOptions, "delete the temporary instances", backupActs.DeleteTemporaries,
			backup.DeleteTemporariesInput{Namespace: in.Spec.Namespace, Cluster: in.Spec.Name}, nil); derr != nil && err == nil {
			err = derr
		}
		cancel()
	}
	return r.Finish(ctx, err, summary)
}

// runRestore verifies the backup, loads it into temporary instances, creates
// and forms the new cluster (loading at start or replaying), then completes
// and checks it. temps says whether temporary instances may exist.
func runRestore(ctx workflow.Context, r *flow.Run, in RestoreInput) (summary string, temps bool, err error) {
	c, plan := in.Spec, in.Plan
	m, same, summary, err := verifyBackup(ctx, r, in)
	if err != nil {
		return "", false, err
	}
	auth := flow.AuthOf(c)

	r.Phase(ctx, "loading", "")
	if err := r.Exec(ctx, flow.QuickOptions, "write redis.conf ConfigMap and password Secret", flow.KubeActs.EnsureConfig,
		kube.EnsureConfigInput{Spec: c, NextOrdinal: plan.NextOrdinal}, nil); err != nil {
		return summary, false, err
	}
	var shards []int
	for _, f := range m.Shards {
		shards = append(shards, f.Shard)
	}
	var tmp backup.TemporariesResult
	temps = true
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("start %d temporary standalone instances", len(shards)), backupActs.EnsureTemporaries,
		backup.TemporariesInput{Spec: c, Shards: shards}, &tmp); err != nil {
		return summary, temps, err
	}
	loadTime, err := loadTemporaries(ctx, r, in.BackupID, m, auth, tmp.Addrs)
	if err != nil {
		return summary, temps, err
	}
	ready, err := createRestoredInstances(ctx, r, in, m, same, tmp.Addrs)
	if err != nil {
		return summary, temps, err
	}
	r.Phase(ctx, "forming-cluster", "")
	primaries, err := formRestoredCluster(ctx, r, auth, plan, ready)
	if err != nil {
		return summary, temps, err
	}
	if !same {
		r.Phase(ctx, "replaying", "")
		if err := replay(ctx, r, in, m, auth, primaries, tmp.Addrs); err != nil {
			return summary, temps, err
		}
	} else {
		r.Progress.KeysMoved = m.TotalKeys
	}
	ver, err := completeRestore(ctx, r, in, m, ready, primaries, tmp.Addrs)
	if err != nil {
		return summary, temps, err
	}
	summary += fmt.Sprintf("; loaded %d bytes in %s", r.Progress.BytesMoved, loadTime.Round(time.Millisecond))
	if ver.Compared > 0 {
		summary += fmt.Sprintf("; %d values compared", ver.Compared)
	}
	return summary, temps, nil
}

// verifyBackup records the start, checks every file of the backup against
// its manifest, and decides whether the new primaries load their shard's
// RDB at start (same) or the keys are replayed; summary describes the
// restore.
func verifyBackup(ctx workflow.Context, r *flow.Run, in RestoreInput) (m backupstore.Manifest, same bool, summary string, err error) {
	c := in.Spec
	if err := r.Started(ctx); err != nil {
		return m, false, "", err
	}
	r.Phase(ctx, "verifying-backup", "")
	if err := r.Exec(ctx, flow.LongOptions, "verify the SHA-256 of every file of backup "+in.BackupID, backupActs.VerifyBackupFiles,
		backup.VerifyBackupInput{ID: in.BackupID}, &m); err != nil {
		return m, false, "", err
	}
	// Version 1: an AOF cluster loads at start too (its init container
	// writes the RDB as appendonly.aof); before, AOF always replayed.
	same = planner.RestoreLoadsAtStart(c, len(m.Shards))
	if workflow.GetVersion(ctx, "restore-aof-loads-at-start", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		same = same && c.Persistence.Mode != spec.PersistenceAOF
	}
	mode := "replay"
	if same {
		mode = "load at start"
	}
	summary = fmt.Sprintf("restore backup %s (%s, %d shards) into %s with %d shards (%s): %d keys",
		in.BackupID, m.Namespace+"/"+m.Cluster, len(m.Shards), r.Meta.ClusterKey(), c.Shards, mode, m.TotalKeys)
	return m, same, summary, nil
}

// createRestoredInstances creates the new cluster's instances (with same,
// new shard i's primary loads the i-th backup shard's RDB from its
// temporary instance at start, and takes its slot ranges in the plan the
// API made), waits until Ready and records them.
func createRestoredInstances(ctx workflow.Context, r *flow.Run, in RestoreInput, m backupstore.Manifest, same bool, temps map[int]string) (map[int]kube.InstanceStatus, error) {
	c, plan := in.Spec, in.Plan
	r.Phase(ctx, "creating-instances", "")
	placement := render.Placement{RequireDistinctZones: plan.Placement.RequireDistinctZones}
	if same {
		sources := map[int]string{}
		for i, f := range m.Shards {
			sources[i] = temps[f.Shard]
		}
		if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("create %d instances; primaries load their shard's RDB at start", len(plan.CreateInstances)),
			backupActs.EnsureRestoredInstances, backup.RestoredInstancesInput{Spec: c, Instances: plan.CreateInstances,
				Placement: placement, Sources: sources}, nil); err != nil {
			return nil, err
		}
	} else {
		if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("create %d instances", len(plan.CreateInstances)), flow.KubeActs.EnsureInstances,
			kube.EnsureInstancesInput{Spec: c, Instances: plan.CreateInstances, Placement: placement}, nil); err != nil {
			return nil, err
		}
	}
	ready, err := flow.WaitReady(ctx, r, c, plan.CreateInstances)
	if err != nil {
		return nil, err
	}
	if err := r.Record(ctx, &audit.ClusterCreated{Cluster: r.Meta.ClusterKey(), Image: c.Image, Shards: c.Shards, ReplicasPerShard: c.ReplicasPerShard}); err != nil {
		return nil, err
	}
	if err := r.Record(ctx, flow.InstanceCreatedEvents(r, c, plan.CreateInstances, ready)...); err != nil {
		return nil, err
	}
	return ready, nil
}

// completeRestore attaches the replicas, labels roles, creates the
// Services, then compares the restored keys with the backup.
func completeRestore(ctx workflow.Context, r *flow.Run, in RestoreInput, m backupstore.Manifest, ready map[int]kube.InstanceStatus,
	primaries []string, temps map[int]string) (backup.VerifyResult, error) {
	c, plan, auth := in.Spec, in.Plan, flow.AuthOf(in.Spec)
	var ver backup.VerifyResult
	if err := flow.AttachReplicas(ctx, r, auth, plan.CreateInstances, ready, flow.PrimariesOf(plan.CreateInstances, ready)); err != nil {
		return ver, err
	}
	r.Phase(ctx, "labelling", "")
	if err := flow.LabelRoles(ctx, r, c, auth, ready); err != nil {
		return ver, err
	}
	if err := r.Exec(ctx, flow.QuickOptions, "create the headless and per-shard primary Services", flow.KubeActs.EnsureServices,
		kube.EnsureServicesInput{Spec: c, Shards: plan.NewShards}, nil); err != nil {
		return ver, err
	}
	r.Phase(ctx, "verifying-keys", "")
	err := r.Exec(ctx, flow.LongOptions, "compare key counts per slot range with the backup", backupActs.VerifyRestoredKeys,
		backup.VerifyInput{Auth: auth, Seeds: primaries, Files: m.Shards, Compare: in.Compare, Sample: in.Sample, Temporaries: temps}, &ver)
	return ver, err
}

// loadTemporaries loads every backup shard's RDB into its temporary
// instance, all at once, and returns how long that took.
func loadTemporaries(ctx workflow.Context, r *flow.Run, backupID string, m backupstore.Manifest, auth redisops.Auth, addrs map[int]string) (time.Duration, error) {
	began := workflow.Now(ctx)
	var futures []workflow.Future
	for _, f := range m.Shards {
		opts := flow.LongOptions
		opts.Summary = fmt.Sprintf("load %s (%d bytes, %d keys) into its temporary instance", f.Key, f.Size, f.Keys)
		futures = append(futures, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), backupActs.LoadTemporary,
			backup.LoadInput{Auth: auth, Addr: addrs[f.Shard], BackupID: backupID, File: f}))
	}
	r.Progress.Step = fmt.Sprintf("load %d RDBs into temporary instances", len(futures))
	r.Progress.Publish(ctx)
	var loadErr error
	for i, fu := range futures {
		var lr backup.LoadResult
		if err := fu.Get(ctx, &lr); err != nil {
			if loadErr == nil {
				loadErr = err
			}
			continue
		}
		r.Progress.StepsDone++
		r.Progress.BytesMoved += lr.Bytes
		r.Phase(ctx, "loading", fmt.Sprintf("loaded %d/%d RDBs (%s)", i+1, len(futures), m.Shards[i].Key))
	}
	if loadErr != nil {
		return 0, loadErr
	}
	return workflow.Now(ctx).Sub(began), nil
}

// formRestoredCluster meets the new instances and gives each primary its
// shard's slots (from the admitted plan); it returns the primaries.
func formRestoredCluster(ctx workflow.Context, r *flow.Run, auth redisops.Auth, plan planner.Plan, ready map[int]kube.InstanceStatus) ([]string, error) {
	addrs := flow.AddrsOf(ready)
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("CLUSTER MEET %d nodes", len(addrs)), flow.RedisActs.Meet,
		redisops.MeetInput{Auth: auth, Addrs: addrs}, nil); err != nil {
		return nil, err
	}
	var assign []redisops.SlotAssignment
	var slotEvents []audit.Payload
	var primaries []string
	for _, inst := range plan.CreateInstances {
		if inst.Role == topology.RolePrimary {
			primaries = append(primaries, ready[inst.Ordinal].Addr())
			assign = append(assign, redisops.SlotAssignment{Addr: ready[inst.Ordinal].Addr(), Ranges: plan.Assign[inst.Shard]})
			slotEvents = append(slotEvents, &audit.SlotsAssigned{Cluster: r.Meta.ClusterKey(), Shard: inst.Shard, Slots: flow.AuditRanges(plan.Assign[inst.Shard])})
		}
	}
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("assign 16384 slots to %d shards", len(assign)), flow.RedisActs.AssignSlots,
		redisops.AssignSlotsInput{Auth: auth, Assign: assign, WaitFor: addrs}, nil); err != nil {
		return nil, err
	}
	if err := r.Record(ctx, slotEvents...); err != nil {
		return nil, err
	}
	return primaries, nil
}

// replay writes every key of the temporary instances into the new cluster,
// round by round (each round a step, so progress and ETA show between them).
func replay(ctx workflow.Context, r *flow.Run, in RestoreInput, m backupstore.Manifest, auth redisops.Auth, seeds []string, temps map[int]string) error {
	per := in.ReplayKeysPerStep
	if per <= 0 {
		per = 200_000
	}
	var sources []rdb.Source
	for _, f := range m.Shards {
		sources = append(sources, rdb.Source{Shard: f.Shard, Addr: temps[f.Shard]})
	}
	total := m.TotalKeys
	var elapsed time.Duration
	for round := 1; ; round++ {
		left := 0
		for _, s := range sources {
			if !s.Done {
				left++
			}
		}
		if left == 0 {
			break
		}
		r.Progress.StepsTotal++
		label := fmt.Sprintf("replay round %d: up to %d keys from each of %d temporary instances", round, per, left)
		began := workflow.Now(ctx)
		var res rdb.ReplayResult
		if err := r.Exec(ctx, flow.LongOptions, label, backupActs.ReplayKeys,
			backup.ReplayInput{Auth: auth, Seeds: seeds, Sources: sources, MaxKeys: per, Label: label}, &res); err != nil {
			return err
		}
		sources = res.Sources
		elapsed += workflow.Now(ctx).Sub(began)
		r.Progress.KeysMoved += res.Keys
		if secs := elapsed.Seconds(); secs > 0 {
			r.Progress.KeysPerSecond = float64(r.Progress.KeysMoved) / secs
			if r.Progress.KeysPerSecond > 0 && total > r.Progress.KeysMoved {
				r.Progress.ETA = time.Duration(float64(total-r.Progress.KeysMoved) / r.Progress.KeysPerSecond * float64(time.Second))
			} else {
				r.Progress.ETA = 0
			}
		}
		r.Phase(ctx, "replaying", fmt.Sprintf("%d/%d keys replayed, %.0f keys/s, ETA %s", r.Progress.KeysMoved, total,
			r.Progress.KeysPerSecond, r.Progress.ETA.Round(time.Second)))
	}
	r.Progress.ETA = 0
	return nil
}
