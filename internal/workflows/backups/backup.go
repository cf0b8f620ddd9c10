package backups

import (
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/activities/backup"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/redis/rdb"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// backupActs names the backup activities.
var backupActs *backup.Activities

// Operation types of backups.
const (
	OpBackup       = operation.Backup
	OpRestore      = operation.Restore
	OpDeleteBackup = operation.DeleteBackup
)

// ErrTypeNotBackupable is the failure of a backup of a cluster without a
// primary for every slot.
const ErrTypeNotBackupable = "NotBackupable"

// BackupInput backs up a cluster. The backup's ID is Meta.OperationID.
type BackupInput struct {
	Meta flow.Meta `json:"meta"`
	// PauseBound is the longest write pause at the consistency point
	// (default 1s); past it the backup falls back to per-shard points.
	PauseBound time.Duration `json:"pauseBound,omitempty"`
	// Retention, when set, deletes the cluster's older backups afterwards.
	Retention backupstore.Retention `json:"retention,omitzero"`
	Scheduled bool                  `json:"scheduled,omitempty"`
	// Plan is the plan the API admitted and showed (nil for scheduled
	// backups and older inputs).
	Plan *planner.Plan `json:"plan,omitempty"`
}

// DeleteBackupInput deletes one backup. Meta names the backup's cluster.
type DeleteBackupInput struct {
	Meta     flow.Meta `json:"meta"`
	BackupID string    `json:"backupId"`
	// Plan is the plan the API admitted (nil in older inputs).
	Plan *planner.Plan `json:"plan,omitempty"`
}

// BackupWorkflowID is the workflow of an operation on a backup itself (its
// deletion): it does not hold the cluster's operation lock.
func BackupWorkflowID(backupID string) string { return "dayops-backup/" + backupID }

// Backup takes a backup of a whole cluster at one consistency point: observe
// the primaries and their slots, pause writes on all of them just long
// enough for each to fork its snapshot, stream every shard's RDB into the
// backup store, write the manifest, then apply the retention.
func Backup(ctx workflow.Context, in BackupInput) (flow.Result, error) {
	return flow.Operate(ctx, in.Meta, func(ctx workflow.Context, r *flow.Run) (string, error) {
		r.Progress.StepsTotal = 5
		r.Plan = in.Plan
		return runBackup(ctx, r, in)
	})
}

// runBackup observes the primaries, snapshots them at one point, writes the
// manifest and applies the retention.
func runBackup(ctx workflow.Context, r *flow.Run, in BackupInput) (string, error) {
	if err := r.Started(ctx); err != nil {
		return "", err
	}
	r.Phase(ctx, "observing", "")
	obs, err := flow.Observe(ctx, r, nil)
	if err != nil {
		return "", err
	}
	st := obs.State
	c := st.Spec
	targets, files, covered := backupTargets(st)
	if covered != topology.NumSlots {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("cluster %s: its primaries serve %d of %d slots; a backup needs them all",
			r.Meta.ClusterKey(), covered, topology.NumSlots), ErrTypeNotBackupable, nil)
	}
	id := r.Meta.OperationID
	r.Phase(ctx, "snapshot", "")
	var snap rdb.SnapshotResult
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("pause writes on %d primaries, fork each at that point, stream %d RDBs to the backup store", len(targets), len(targets)),
		backupActs.SnapshotCluster, backup.SnapshotInput{Auth: flow.AuthOf(c), BackupID: id, Targets: targets, PauseBound: in.PauseBound}, &snap); err != nil {
		return "", err
	}
	m := backupstore.Manifest{
		Version: backupstore.ManifestVersion, ID: id, Namespace: r.Meta.Namespace, Cluster: r.Meta.Cluster,
		Actor: r.Meta.Actor, Reason: r.Meta.Reason, Scheduled: in.Scheduled, StartedAt: r.Progress.StartedAt.UTC(),
		CompletedAt: workflow.Now(ctx).UTC(), Spec: c, RedisVersion: snap.RedisVersion, Consistency: snap.Consistency,
	}
	addSnapshots(&m, files, snap.Shards)
	r.Progress.BytesMoved, r.Progress.KeysMoved = m.TotalBytes, m.TotalKeys
	r.Phase(ctx, "manifest", "")
	if err := r.Exec(ctx, flow.QuickOptions, "write the manifest of backup "+id, backupActs.WriteBackupManifest, backup.ManifestInput{Manifest: m}, nil); err != nil {
		return "", err
	}
	consistency := "one consistency point"
	if !m.Consistency.ClusterConsistent {
		consistency = m.Consistency.Note
	}
	summary := fmt.Sprintf("backup %s of %s: %d shards, %d keys, %d bytes; %s; writes paused %.1f ms (bound %d ms)",
		id, r.Meta.ClusterKey(), len(files), m.TotalKeys, m.TotalBytes, consistency, m.Consistency.PausedMS, m.Consistency.PauseBoundMS)
	if in.Retention.KeepLast > 0 || in.Retention.KeepWithin > 0 {
		deleted, err := applyRetention(ctx, r, in, id)
		if err != nil {
			return summary, err
		}
		if deleted > 0 {
			summary += fmt.Sprintf("; retention deleted %d older backups", deleted)
		}
	}
	return summary, nil
}

// backupTargets lists the primary of every shard that owns slots, with the
// manifest entry of its file (without what the snapshot adds), and how many
// slots they cover.
func backupTargets(st planner.State) (targets []rdb.Target, files []backupstore.ShardFile, covered int) {
	for _, shard := range st.Shards() {
		p, ok := flow.PrimaryInstances(st)[shard]
		rs := st.Slots[shard]
		if !ok || p.Addr == "" || rs.Count() == 0 {
			continue // a shard without slots holds no key
		}
		covered += rs.Count()
		targets = append(targets, rdb.Target{Shard: shard, Addr: p.Addr})
		f := backupstore.ShardFile{Shard: shard, Slots: rs, PrimaryNodeID: p.NodeID, PrimaryAddr: p.Addr}
		for _, in := range st.Instances {
			if in.Shard == shard && in.Role == topology.RoleReplica {
				f.ReplicaIDs = append(f.ReplicaIDs, in.NodeID)
			}
		}
		files = append(files, f)
	}
	return targets, files, covered
}

// addSnapshots completes files with what the snapshot of each shard wrote
// and sets them, and their totals, in m.
func addSnapshots(m *backupstore.Manifest, files []backupstore.ShardFile, shards []rdb.ShardSnapshot) {
	for i := range files {
		for _, s := range shards {
			if s.Shard == files[i].Shard {
				f := &files[i]
				f.Key, f.Size, f.SHA256, f.Keys, f.ForkedAt = s.Key, s.Size, s.SHA256, s.Keys, s.ForkedAt
			}
		}
		m.TotalBytes += files[i].Size
		m.TotalKeys += files[i].Keys
	}
	m.Shards = files
}

// applyRetention deletes the cluster's backups the retention expires (never
// the one just taken) and returns how many it listed as expired.
func applyRetention(ctx workflow.Context, r *flow.Run, in BackupInput, id string) (int, error) {
	r.Phase(ctx, "retention", "")
	var exp backup.ExpiredResult
	if err := r.Exec(ctx, flow.QuickOptions, "apply the retention", backupActs.ListExpiredBackups,
		backup.ExpiredInput{Cluster: r.Meta.ClusterKey(), Retention: in.Retention, Now: workflow.Now(ctx)}, &exp); err != nil {
		return 0, err
	}
	for _, old := range exp.IDs {
		if old == id {
			continue
		}
		r.Progress.StepsTotal++
		if err := r.Exec(ctx, flow.QuickOptions, "delete expired backup "+old, backupActs.DeleteBackupFiles, backup.DeleteBackupInput{ID: old}, nil); err != nil {
			return 0, err
		}
	}
	return len(exp.IDs), nil
}

// DeleteBackup deletes one backup (its manifest first), as an audited
// operation of the backup's cluster.
func DeleteBackup(ctx workflow.Context, in DeleteBackupInput) (flow.Result, error) {
	ctx, r, err := flow.Open(ctx, in.Meta)
	if err != nil {
		return flow.Result{}, err
	}
	r.Progress.StepsTotal = 3
	r.Plan = in.Plan
	err = func() error {
		if err := r.Started(ctx); err != nil {
			return err
		}
		r.Phase(ctx, "deleting", "")
		return r.Exec(ctx, flow.QuickOptions, "delete backup "+in.BackupID, backupActs.DeleteBackupFiles, backup.DeleteBackupInput{ID: in.BackupID}, nil)
	}()
	return r.Finish(ctx, err, "deleted backup "+in.BackupID)
}

// ScheduledBackupInput is the fixed input a Temporal schedule starts
// ScheduledBackup with.
type ScheduledBackupInput struct {
	Namespace  string                `json:"namespace"`
	Cluster    string                `json:"cluster"`
	Actor      string                `json:"actor"`
	Reason     string                `json:"reason,omitempty"`
	PauseBound time.Duration         `json:"pauseBound,omitempty"`
	Retention  backupstore.Retention `json:"retention,omitzero"`
	// TaskQueue of the Backup child (the schedule's own).
	TaskQueue string `json:"taskQueue,omitempty"`
}

// ScheduledBackupResult says what one scheduled run did.
type ScheduledBackupResult struct {
	BackupID string `json:"backupId,omitempty"`
	Skipped  string `json:"skipped,omitempty"`
}

// ScheduledBackup is what a backup schedule runs: it gives the run an
// operation ID and starts Backup as a child under the cluster's operation
// workflow ID, so a scheduled backup never overlaps another operation of
// the cluster; when one runs, this run is skipped (and says so).
func ScheduledBackup(ctx workflow.Context, in ScheduledBackupInput) (ScheduledBackupResult, error) {
	var id string
	if err := workflow.SideEffect(ctx, func(workflow.Context) any {
		u, err := uuid.NewV7()
		if err != nil {
			return uuid.NewString()
		}
		return u.String()
	}).Get(&id); err != nil {
		return ScheduledBackupResult{}, err
	}
	m := flow.Meta{OperationID: id, Type: OpBackup, Namespace: in.Namespace, Cluster: in.Cluster, Actor: in.Actor,
		Reason: in.Reason, RequestedAt: workflow.Now(ctx).UTC()}
	opts := workflow.ChildWorkflowOptions{
		WorkflowID:            flow.WorkflowID(in.Namespace, in.Cluster),
		TaskQueue:             in.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(flow.SearchAttrCluster).ValueSet(m.ClusterKey()),
			temporal.NewSearchAttributeKeyKeyword(flow.SearchAttrOperation).ValueSet(string(OpBackup)),
			temporal.NewSearchAttributeKeyKeyword(flow.SearchAttrOperationID).ValueSet(id),
			temporal.NewSearchAttributeKeyKeyword(flow.SearchAttrRequester).ValueSet(in.Actor),
		),
		StaticSummary: fmt.Sprintf("scheduled backup %s by %s", m.ClusterKey(), in.Actor),
	}
	cctx := workflow.WithChildOptions(ctx, opts)
	f := workflow.ExecuteChildWorkflow(cctx, Backup, BackupInput{Meta: m, PauseBound: in.PauseBound, Retention: in.Retention, Scheduled: true})
	var exec workflow.Execution
	if err := f.GetChildWorkflowExecution().Get(ctx, &exec); err != nil {
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return ScheduledBackupResult{Skipped: "another operation of " + m.ClusterKey() + " is running"}, nil
		}
		return ScheduledBackupResult{}, err
	}
	var res flow.Result
	if err := f.Get(ctx, &res); err != nil {
		return ScheduledBackupResult{BackupID: id}, err
	}
	return ScheduledBackupResult{BackupID: id}, nil
}
