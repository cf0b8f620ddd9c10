// Package audit turns the event log (internal/eventstore) into answers for
// auditors and operators: the domain event vocabulary, the projections
// (current cluster state and operation timelines), as-of replays and the
// verify entry points used by `dayops audit`.
//
// # Vocabulary
//
// events.go defines one payload struct per event type (OperationRequested,
// StepStarted, ..., InstanceCreated, SlotsMigrated, ..., ClusterDeleted),
// each with its current schema version. Emitters build events with NewEvent
// (type, version and metadata.cluster come from the payload) and append
// them to Stream(payload): events carrying an operation ID go to
// operation-<id>, the others to cluster-<name>. Fields are only ever added;
// a change of meaning bumps the schema version and registers an upcaster in
// Upcasters (example: RoleChanged v1 used Redis' "master"/"slave").
//
// requests.go adds what was asked of the API beside the operations it
// started: RequestRefused, CredentialsRead, ScheduleChanged and
// CancelRequested (the actor in the metadata; parameters redacted by Redact
// and bounded by MaxParamsBytes); with no operation or cluster named they go
// to the api-requests stream. The projections skip them.
//
// # Checkpoint copies
//
// CopyCheckpoints writes each signed checkpoint once to a backup store
// (audit/checkpoints/<seq>.json, never overwritten) and
// ReadCheckpointCopies reads them back for eventstore.VerifyOptions.External:
// a rewrite of the database alone, checkpoints included, is then caught.
//
// # Projections
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
package audit
