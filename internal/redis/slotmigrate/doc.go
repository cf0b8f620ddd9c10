// Package slotmigrate moves hash slots between the primaries of a Redis
// Cluster: fast, lossless and resumable (MigrateSlots), closes slots left
// open by other tools (CloseOpenSlots), and probes for atomic slot migration
// (Probe). It runs on clusteradmin.Admin's plumbing (client factory, limits,
// cluster views, retry and poll) through Migrator, which embeds the Admin.
//
// It is a library: it imports no go.temporal.io package (tests/layout
// checks it); its Temporal adapter is internal/activities/redisops.
// MigrateInput.OnProgress is where a wrapper records heartbeats and
// MigrateInput.Resume where it passes the last heartbeat back after a retry.
//
//   - Idempotent: a migration killed at any point (even between two
//     commands of a slot) and started again with the same moves finishes
//     every slot towards its planned target without losing a key. Slots left
//     open by other tools are closed first by CloseOpenSlots (forward if the
//     importing node holds keys of the slot, else back; an import that is no
//     move, such as the one Redis sets at load time on a node holding old
//     keys of a slot another primary owns, always back).
//   - A key bigger than Limits.MaxKeyBytes stops a migration with
//     clusteradmin.KeyTooBigError; it is never skipped. A key MIGRATE finds on
//     the target too (BUSYKEY) is compared with DUMP, never blindly replaced
//     (see clusteradmin.BusyKeyPolicy).
//   - Keys move by the copy path (internal/redis/slotcopy, which does not
//     import this package: copySlots hands it the Admin, the migration's
//     budget and pacer and the tracker's callbacks) where a slot fits one
//     copy, so that several targets restore at once; everything else, and
//     what clients add during a copy, moves with MIGRATE ... KEYS.
//   - Atomic slot migration (Redis 8.4 CLUSTER MIGRATION, Valkey 9 CLUSTER
//     MIGRATESLOTS) is used when every primary answers the COMMAND INFO probe
//     for it; otherwise the legacy SETSLOT/MIGRATE path runs.
//   - Several sources and waves run in parallel within Limits, paced (unless
//     Limits.LatencyBudgetOff) by internal/redis/pace so that the primaries'
//     PING round trip stays within Limits.LatencyBudget of its value before
//     the move.
//   - Pipelines and the bounded fan-out of sources, waves and copies are
//     internal/redis/pipe's, shared with the copy path.
package slotmigrate

import "github.com/dayops/dayops/internal/redis/clusteradmin"

// Migrator runs slot migrations with an Admin's clients, logger and limits.
// Safe for concurrent use.
type Migrator struct {
	*clusteradmin.Admin

	// BeforeCommit, when set (tests only), runs on the copy path between
	// the RESTOREs on the target and the EXEC on the source.
	BeforeCommit func(slot, attempt int)
}

// New returns a Migrator over a.
func New(a *clusteradmin.Admin) *Migrator { return &Migrator{Admin: a} }
