// Package rdb is the Redis RDB and replication-protocol library of dayops,
// under the backup and restore activities (internal/activities/backup):
//
//   - Snapshot: one consistency point across every primary (CLIENT PAUSE
//     WRITE, SYNC on a replication connection so each primary forks at that
//     moment, CLIENT UNPAUSE), then each shard's RDB streamed from the
//     replication connection into the backup store with its SHA-256. Nothing
//     is exec'd in a pod and no file is held in memory.
//   - LoadRDB: a standalone redis-server loads an RDB that this process
//     serves over the replication protocol, checking the bytes against the
//     manifest's SHA-256 as they pass (ErrChecksum otherwise).
//   - Replay: keys of temporary instances written into a cluster of any shard
//     count with pipelined DUMP/PTTL and RESTORE ... REPLACE, resumable from
//     per-source cursors.
//   - CountKeys/CompareKeys: a restored cluster checked against a manifest
//     (key counts per slot range) and, on request, the values.
//
// Contract: functions take a context first and one request struct, report
// progress through callbacks (the adapter turns them into heartbeats) and
// return errors wrapped with %w; classifying them is the adapter's job. The
// package imports no go.temporal.io package (TestNoTemporalImport) and no
// Kubernetes client: it talks to Redis and the backup store only.
package rdb
