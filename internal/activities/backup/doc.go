// Package backup holds the backup and restore activities of dayops: thin
// Temporal adapters over the RDB and replication protocol library
// internal/redis/rdb (Snapshot, LoadRDB, Replay, CountKeys, CompareKeys) plus
// the Kubernetes side of a restore (temporary Pods, restored instances) and
// the backup store's manifests. An adapter reads the password from the
// cluster's Secret, turns the library's progress into heartbeats and
// classifies errors into Temporal application errors.
//
// Contract: every activity is idempotent. A retried snapshot takes a new
// consistency point and overwrites the files (the manifest, written last,
// names what is valid); a retried load sees a finished load and stops; a
// retried replay resumes from the cursors of its input; temporary Pods and
// restored instances are created only when absent; deletions tolerate
// NotFound. Permanent conditions (a corrupt or missing file, no store) are
// non-retryable application errors with the stable types below.
package backup
