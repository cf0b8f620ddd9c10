// Package projection folds the audit events (internal/audit) into answers
// for auditors and operators: the current cluster state and operation
// timelines, kept in PostgreSQL tables by a catch-up subscription, and
// replays of the log as of a position or an instant.
//
// Projection is a pure, deterministic fold of events in position order:
// ClusterState (shards and their slot ranges, instances by ordinal with
// shard, role, zone, image and version, last operation and its result) and
// Timeline (each step's start, end and outcome, hook runs). Unknown event
// types are skipped so an older reader survives a newer writer; a known type
// with a bad payload is an error.
//
// Projector keeps the fold in PostgreSQL tables through the store's
// catch-up subscription "audit-projections". Each batch loads the rows it
// touches, applies the events, upserts the rows and advances the checkpoint
// in one transaction, so the tables equal the fold of the log up to the
// checkpoint: exactly once across restarts. Rebuild recomputes the fold from
// scratch; the tests assert both agree.
//
// Rebuild cuts the gap-free position range into pages read on parallel
// connections and decoded in parallel, and applies them in order (see
// `dayops-dev bench eventstore` for the 1M-event figure).
//
// # As of
//
// ClusterAsOf replays only the events whose metadata names the cluster (its
// own stream and its operations' streams) up to a Bound: a global position,
// or an instant (mapped to the last position recorded at or before it; the
// store guarantees recorded time never decreases with position).
package projection
