// Package eventstore is dayops' event-sourced audit log on PostgreSQL (pgx
// v5, pgxpool): append, read, subscribe, a SHA-256 hash chain with
// Ed25519-signed checkpoints, and verification. Below it: model (events,
// streams, IDs, errors, payloads, upcasters, the event hash), verify (the
// chain and checkpoint checks), signing (checkpoint signatures and keys),
// migrate (schema migrations), roles (grants) and wire (row decoding); their
// names are re-exported here, so callers use eventstore.X.
//
// Streams are named "<category>-<id>" (cluster, operation, api); a stream's
// version is its number of events. Append takes an ExpectedVersion (Any,
// NoStream, Exact(n)); a mismatch is a *WrongExpectedVersionError. Every
// event carries a deterministic ID (StepEventID ignores the attempt and run
// ID): if every ID of an append is already stored on that stream, Append
// writes nothing and returns the original positions (Duplicate set); some
// but not all, or on another stream, is an *EventIDConflictError.
//
// Appends are serialized by a transaction-scoped advisory lock held until
// the commit is visible, so global positions are gap-free and in commit
// order: a reader who has seen position N never later finds a committed
// event below N. Concurrent Append calls of one Store are group-committed
// (up to 5000 events per transaction), each request with its own version
// and idempotency check and result, all-or-nothing per request; a caller
// whose context ends while queued is dropped (nothing written). Costs:
// `dayops-dev bench eventstore`. recorded_at is clock_timestamp() taken
// under the lock, clamped to never decrease with position, so "as of time
// T" is "up to PositionAt(T)", a binary search on the primary key. Scans
// page by position (keyset).
//
// The appender computes each event's hash (model.EventHash) in the locked
// transaction. With Options.Signer set, the append that crosses
// CheckpointEvery events (or CheckpointInterval) also inserts a numbered,
// signed checkpoint of the head; RunSigner signs apart from the writers.
// Verify is package verify's. Migration 0002 makes events and checkpoints
// append-only (see package roles).
//
// Subscribe is a catch-up subscription with a stored position: each batch
// runs in one transaction that hands the events and the transaction to the
// handler and advances the position, so handler writes through it take
// effect exactly once; other effects are at-least-once. Between batches it
// waits for a NOTIFY on NotifyChannel, polling as a fallback. Open applies
// the embedded migrations (package migrate).
package eventstore
