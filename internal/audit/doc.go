// Package audit is the domain event vocabulary of the event log
// (internal/eventstore): one payload type per event, how they are encoded,
// upcast and routed to streams, what the API records about requests, and the
// copies of signed checkpoints kept beside the backups. The folds of these
// events (current cluster state, operation timelines, as-of replays) live in
// internal/audit/projection.
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
package audit
