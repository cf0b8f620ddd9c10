// Package workflows registers dayops' Temporal workflows and re-exports the
// names their callers use (inputs, queries, signals, workflow IDs). The
// workflows live in subpackages, one per operation family, built from the
// activities in internal/activities:
//   - flow: what every operation shares (Run, progress, plan re-checks,
//     shared cluster steps);
//   - lifecycle: create, scale shards, scale replicas, delete, slot migration;
//   - upgrade: upgrade, its bake child and the approval gate;
//   - backups: backup, scheduled backup, backup deletion, restore;
//   - selfheal: guardian, recover, switchover.
//
// A workflow type is named after its function, whatever its package, so
// recorded histories replay across the split (testdata/*-histories).
//
// Contract:
//   - Deterministic orchestration only. Time, timers, concurrency, randomness
//     and logging go through workflow.*; all I/O is in activities; maps are
//     iterated through sorted keys. `make check` runs workflowcheck.
//   - One mutating operation per Redis cluster at a time: every operation's
//     workflow ID is WorkflowID(namespace, cluster), whatever its type, and is
//     started with a FAIL conflict policy, so a second start is refused and the
//     API answers 409 naming the running operation.
//   - One input struct and one result struct per workflow, query and update.
//     Add fields, never change their meaning; a behaviour change of a running
//     workflow type goes behind workflow.GetVersion. A recorded history of each
//     workflow type is replayed in CI (testdata/histories).
//   - Every step is an audit event written exactly once: event IDs derive from
//     the workflow ID, the activity ID and a sequence number, never from the
//     attempt or the run ID.
//   - Progress is a query (QueryProgress) returning Progress, mirrored into
//     the workflow's current details for the Temporal Web UI.
package workflows
