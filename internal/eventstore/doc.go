// Package eventstore is dayops' event-sourced audit log on PostgreSQL (pgx v5,
// pgxpool): append, read, subscribe, a SHA-256 hash chain with Ed25519-signed
// checkpoints, and verification.
//
// # Streams
//
// A stream is named "<category>-<id>". The known categories are "cluster"
// (one stream per Redis cluster), "operation" (one per operation) and "api"
// (requests that name neither, e.g. "api-requests");
// appending to any other category is refused with ErrUnknownCategory. A
// stream's version is its number of events (the first event has version 1).
// Append takes an ExpectedVersion: Any, NoStream or Exact(n); a mismatch is a
// *WrongExpectedVersionError naming the stream and both versions.
//
// # Idempotency
//
// Every event carries an ID chosen by the caller and derived
// deterministically; for a workflow step use StepEventID(workflowID,
// activityID, seq), which ignores the attempt and the run ID. If every ID of
// an append is already stored on that stream, Append writes nothing and
// returns the original positions (Duplicate set), regardless of the expected
// version: a retried activity whose first attempt did commit sees success.
// Some but not all IDs stored, or an ID stored on another stream, is a caller
// bug: *EventIDConflictError. The check runs under the append lock, so two
// concurrent appends of one ID store it once; the unique constraint on
// event_id backs this up.
//
// # Ordering
//
// Appends are serialized by a transaction-scoped advisory lock. Under it the
// appender reads the head, assigns positions head+1.. and commits; the lock
// is released only after the commit is visible. Hence global positions are
// gap-free and in commit order: a reader who has seen position N never later
// finds a committed event below N. Because the lock is held across the
// commit's fsync, concurrent Append calls of one Store are group-committed:
// they queue, and one of them commits the queued requests in one
// transaction (up to 5000 events), each request with its own version check,
// idempotency check and result, all-or-nothing per request. A caller whose
// context ends while queued is dropped from the queue (nothing written);
// once its request is in a transaction the outcome is that transaction's.
// Costs and figures: `dayops-dev bench eventstore`.
//
// recorded_at is the database clock read by clock_timestamp() after the lock
// is taken (now() would be the transaction start, before waiting for the
// lock, and could go backwards relative to position), clamped to be no
// earlier than the previous event's. So recorded time never decreases with
// position, and "as of time T" is "up to PositionAt(T)", a binary search on
// the primary key (there is no index on recorded_at; --since/--until use the
// same search). Scans page by position (keyset), so a scan of millions of
// events never turns into one large sort.
//
// # Payloads and metadata
//
// A payload must be a JSON object of at most Options.MaxPayloadBytes
// (default 1 MiB), in valid UTF-8. It is stored in canonical form (see
// CanonicalPayload: the object as given, insignificant white space removed)
// in a json column, whose text PostgreSQL keeps verbatim, so verification
// hashes exactly the stored bytes. Metadata: actor
// (required), reason, correlation ID (the operation), causation ID, cluster;
// event type and schema version (>= 1) are columns too. Bad input is an
// *InvalidEventError wrapping one of ErrPayloadNotObject,
// ErrPayloadTooLarge, ErrEmptyType, ErrEmptyActor, ErrUnknownCategory, ...;
// nothing of the append is written. Upcasters registered per (type, from
// version) are applied on read; stored rows are never rewritten.
//
// # Hash chain and checkpoints
//
// Each event stores prev_hash (the previous event's hash; 32 zero bytes for
// position 1) and hash = EventHash(...), SHA-256 over a length-prefixed
// encoding of position, prev_hash, ID, stream, version, type, schema version,
// canonical payload, every metadata field and recorded time in UTC Unix
// microseconds. The hash is computed by the appender inside the locked
// transaction. With Options.Signer set, the append that crosses
// CheckpointEvery events (or CheckpointInterval) since the last checkpoint
// also inserts a checkpoint: the head (position, hash) signed with Ed25519.
// Checkpoints are numbered (seq 1, 2, 3, ..., signed), so they form a chain
// too; RunSigner signs a moved head periodically and re-signs an idle one,
// apart from the writers if wanted (its own key and database role).
// Verify recomputes the chain from the stored content and names the first
// edited event (hash mismatch), the first missing position (gap), a
// checkpoint beyond the end (truncation), a missing checkpoint (seq gap), a
// checkpoint whose hash differs from the recomputed chain or whose
// signature fails (a consistent rewrite of the whole table is caught by
// anyone holding the public key), no checkpoint at all (unless allowed), a
// newest checkpoint older than a bound, and a checkpoint kept elsewhere
// (VerifyOptions.External, the backup store's copies) that the database
// lacks: deleting the newest events with their checkpoints is caught there.
//
// # Append-only
//
// Migration 0002 adds a trigger refusing UPDATE, DELETE and TRUNCATE on
// events and checkpoints to every role; only a member of the owner role,
// in a transaction with SET LOCAL dayops.audit_rewrite = 'allow'
// (OwnerRewrite), may UPDATE or DELETE. GrantWriter and GrantSigner give
// the API/worker and the signer only INSERT and SELECT where they need it.
//
// # Subscriptions
//
// Subscribe is a catch-up subscription with a stored checkpoint (table
// subscriptions: name -> position). Each batch runs in one transaction that
// locks the checkpoint row, hands the events and the transaction to the
// handler, and advances the checkpoint: handler writes made through that
// transaction take effect exactly once across crashes and restarts. Effects
// outside the transaction are at-least-once and must be idempotent. Between
// batches it waits for a NOTIFY on NotifyChannel, polling as a fallback.
//
// # Schema
//
// Migrations are embedded SQL files applied by Open under a session advisory
// lock and recorded in dayops_schema_migrations per component; a database
// with a newer version than the binary knows is refused (*SchemaTooNewError).
package eventstore
