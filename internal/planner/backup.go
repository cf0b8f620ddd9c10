package planner

import (
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
)

// BackupRequest asks for a backup of an observed cluster.
type BackupRequest struct {
	Namespace, Cluster string
	// Shards is the number of shards whose primaries own slots.
	Shards int
	// PauseBound is the write pause bound, already defaulted.
	PauseBound time.Duration
	// KeepLast and KeepWithin are the retention applied afterwards.
	KeepLast   int
	KeepWithin time.Duration
}

// PlanBackup describes a backup at one consistency point.
func PlanBackup(req BackupRequest) Plan {
	plan := Plan{Operation: "backup",
		Summary: fmt.Sprintf("backup %s/%s: %d shards at one consistency point (write pause bound %s)", req.Namespace, req.Cluster, req.Shards, req.PauseBound),
		Steps: []string{
			"observe the primaries and their slots",
			fmt.Sprintf("pause writes on %d primaries (CLIENT PAUSE WRITE, at most %s), SYNC each so it forks at that point, unpause", req.Shards, req.PauseBound),
			fmt.Sprintf("stream %d RDBs into the backup store with their SHA-256", req.Shards),
			"write the manifest (spec, topology, Redis version, consistency point, sizes, checksums, key counts)",
		}}
	if req.KeepLast > 0 || req.KeepWithin > 0 {
		plan.Steps = append(plan.Steps, fmt.Sprintf("delete the cluster's backups beyond the retention (keep last %d / within %s)", req.KeepLast, req.KeepWithin))
	}
	return plan
}

// PlanDeleteBackup describes the deletion of one backup of files files.
func PlanDeleteBackup(id, namespace, cluster string, files int) Plan {
	return Plan{Operation: "delete-backup", Summary: fmt.Sprintf("delete backup %s of %s/%s (%d files)", id, namespace, cluster, files),
		Steps: []string{"delete the manifest, then every file of the backup"}}
}

// RestoreLoadsAtStart reports whether a restore of a backup of backupShards
// shards into c loads each shard's RDB at start (same shard count; an AOF
// cluster too, its init container writes the RDB as appendonly.aof) instead
// of replaying every key. The API's plan and the Restore workflow both
// decide with it (the workflow keeps the older AOF rule for histories
// recorded before).
func RestoreLoadsAtStart(c spec.Cluster, backupShards int) bool {
	return c.Shards == backupShards
}

// RestoreRequest asks for a backup to be restored into a new cluster.
type RestoreRequest struct {
	// Spec is the new cluster's spec, defaulted and valid.
	Spec  spec.Cluster
	Zones []string
	// BackupID, Source ("<namespace>/<cluster>"), Slots (per backup shard,
	// in the manifest's order) and Keys describe the backup.
	BackupID string
	Source   string
	Slots    []topology.Ranges
	Keys     int64
	// Compare is "", "counts", "sample" or "full".
	Compare string
}

// PlanRestore plans a new cluster from a backup: PlanCreate without hooks,
// with the backup's slot ranges when the shards load their RDB at start.
func PlanRestore(req RestoreRequest, lim Limits) (Plan, error) {
	c := req.Spec
	noHooks := c
	noHooks.Hooks = nil // a restore runs no create hooks
	plan, err := PlanCreate(CreateRequest{Spec: noHooks, Zones: req.Zones}, lim)
	if err != nil {
		return Plan{}, err
	}
	n := len(req.Slots)
	same := RestoreLoadsAtStart(c, n)
	plan.Operation = "restore"
	mode := fmt.Sprintf("replay every key from %d temporary instances into %d shards with pipelined RESTORE", n, c.Shards)
	if same {
		for i, rs := range req.Slots {
			plan.Assign[i] = rs
		}
		mode = "each new primary loads its shard's RDB at start (the backup's slot ranges)"
	}
	plan.Summary = fmt.Sprintf("restore backup %s (%s, %d shards, %d keys) into %s/%s with %d shards: %s",
		req.BackupID, req.Source, n, req.Keys, c.Namespace, c.Name, c.Shards, mode)
	plan.Steps = append([]string{
		fmt.Sprintf("verify the SHA-256 of the %d files (nothing is created if one is missing or corrupt)", n),
		"write redis.conf ConfigMap and password Secret",
		fmt.Sprintf("start %d temporary standalone instances and load one RDB into each", n),
	}, plan.Steps[2:]...)
	if !same {
		plan.Steps = append(plan.Steps, mode)
	}
	compare := "compare key counts per slot range with the manifest"
	if req.Compare == "sample" || req.Compare == "full" {
		compare += " and " + req.Compare + " values"
	}
	plan.Steps = append(plan.Steps, compare, "delete the temporary instances")
	return plan, nil
}
