// Package clusteradmin is the Redis Cluster administration core of dayops:
// meet, assign slots, replicate, detect roles, wait for replicas to be in
// sync, planned failover, forget, reset, close slots left open, and fast,
// lossless, resumable slot migration.
//
// It is a library, not an activity package: it imports no go.temporal.io
// package (TestNoTemporalImport checks it with go list -deps), and its
// Temporal adapter is internal/activities/redisops. It is kept whole rather
// than split into an admin part and a slot mover: the migration (migrate.go,
// copy.go, atomic.go, openslots.go, progress.go, ~1.7k lines) runs on Admin's
// unexported plumbing (view, poll, retry, pipelines, limits, the client
// factory) and Classify's error types, so a separate package would need that
// plumbing exported as API for one caller.
//
// Contract, for the activity wrappers of the operations workflows:
//   - Every operation is a method of Admin (which holds the client factory,
//     the logger and the limits) taking a context first, one input struct,
//     and returning one result struct. The package does not import the
//     Temporal SDK: MigrateInput.OnProgress is where a wrapper records
//     heartbeats, and MigrateInput.Resume is where it passes the last
//     heartbeat details back after a retry.
//   - Idempotent: each method observes the cluster first and acts only when
//     needed; "already so" is success. A migration killed at any point
//     (even between two commands of a slot) and started again with the same
//     moves finishes every slot towards its planned target without losing a
//     key. Slots left open by other tools are closed first by CloseOpenSlots
//     (forward if the importing node holds keys of the slot, else back).
//   - Errors are wrapped with %w and classified once by Classify into stable
//     type names (TypeTransient, TypeKeyTooBig, ...). Transient conditions
//     (TRYAGAIN, ASK, MOVED, CLUSTERDOWN, LOADING, connection resets) are
//     retried inside with back-off for Limits.RetryFor before they surface.
//   - A key bigger than Limits.MaxKeyBytes (MEMORY USAGE, default 512 MiB)
//     stops a migration with KeyTooBigError naming the key and slot; it is
//     never skipped. A key MIGRATE finds on the target too (BUSYKEY) is
//     compared with DUMP, never blindly replaced (see BusyKeyPolicy).
//   - Keys move by the copy path where a slot fits one copy (copySlots:
//     WATCH and DUMP on the source while it does not migrate the slot yet,
//     RESTORE ... ABSTTL on the target, then UNLINK and SETSLOT MIGRATING
//     in one MULTI/EXEC on the source, redone if a client changed a key),
//     so that several targets restore at once; everything else, and what
//     clients add during a copy, moves with MIGRATE ... KEYS.
//   - Atomic slot migration (Redis 8.4 CLUSTER MIGRATION, Valkey 9 CLUSTER
//     MIGRATESLOTS) is used when every primary answers the COMMAND INFO probe
//     for it; otherwise the legacy SETSLOT/MIGRATE path runs.
//   - Methods are safe for concurrent use; the migration itself runs several
//     sources and several waves of slots per source in parallel within
//     Limits, and (unless Limits.LatencyBudgetOff) no more at once than keeps
//     the primaries' PING round trip within Limits.LatencyBudget of what it
//     was before the move (internal/redis/pace: an AIMD window over slot copies and
//     MIGRATE pipelines).
package clusteradmin
