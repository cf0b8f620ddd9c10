// Package backup holds the backup and restore activities of dayops and the
// Redis mechanics under them:
//
//   - Snapshot: one consistency point across every primary (CLIENT PAUSE
//     WRITE, SYNC on a replication connection so each primary forks at that
//     moment, CLIENT UNPAUSE), then each shard's RDB streamed from the
//     replication connection into the backup store with its SHA-256. Nothing
//     is exec'd in a pod and no file is held in memory.
//   - LoadRDB: a standalone redis-server (a temporary Pod) loads an RDB that
//     this process serves over the replication protocol, checking the bytes
//     against the manifest's SHA-256 as they pass.
//   - Replay: keys of temporary instances written into a cluster of any shard
//     count with pipelined DUMP/PTTL and RESTORE ... REPLACE.
//   - CountKeys/CompareKeys: the restored cluster checked against the
//     manifest (key counts per slot range) and, on request, the values.
//
// Contract: every activity is idempotent. A retried snapshot takes a new
// consistency point and overwrites the files (the manifest, written last,
// names what is valid); a retried load sees a finished load and stops; a
// retried replay resumes from the cursors of its input; temporary Pods and
// restored instances are created only when absent; deletions tolerate
// NotFound. Permanent conditions (a corrupt or missing file, no store) are
// non-retryable application errors with the stable types below.
package backup
