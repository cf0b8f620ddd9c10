// Package instance is dayops' instance manager: the code that runs in each
// Redis Pod as PID 1 (`dayops instance run -- redis-server ARGS`), starts
// redis-server, and decides before it serves whether this node may serve with
// the data it has.
//
// Why in the Pod: a former primary restarted by its kubelet within a second of
// a crash (before cluster-node-timeout) is still the primary in its own
// nodes.conf and in every peer's view; its replicas reconnect and take a full
// resync from it within seconds. If it came back with less data than its
// replicas (persistence none, an RDB older than the replica's offset, a lost
// AOF), that resync wipes the only complete copy. A worker polling every few
// seconds is too late; the process that starts redis-server is not.
//
// # The fence
//
// A node whose nodes.conf says it was a primary with replicas starts fenced:
// redis-server gets a random one-time password (--requirepass appended to its
// arguments, which wins over the configured one). Replicas (whose masterauth
// is the real password), clients and the Service's traffic are refused, so
// nothing writes to it and no replica can sync from it, while the cluster bus
// (unauthenticated) keeps it in the cluster and lets it learn the cluster's
// current configuration. The manager alone, knowing the password, reads the
// loaded data's replication ID and offset, asks each replica in nodes.conf
// (with the real password) for its role, replication ID and offset, and calls
// Decide, a pure function:
//
//   - Serve: no replica holds data this node lacks (same history, offset not
//     behind), or it loaded an AOF and no replica was connected at the AOF's
//     last write, or it is no former primary at all.
//   - Takeover: a replica is ahead, or (with an AOF) was connected when the
//     AOF was last written: Redis (appendfsync everysec) postpones its AOF
//     write behind a slow background fsync and replies meanwhile, so the AOF
//     may lack acknowledged writes the replica holds (Decide, rule 4). The
//     manager sends it CLUSTER FAILOVER TAKEOVER; the new primary's higher
//     epoch reaches this node over the bus, it becomes that primary's replica
//     (every slot it had moved to one node) and full-syncs from it.
//   - Follow: a replica was already promoted (Redis' own failover while this
//     node was down); wait to become its replica. A follow that does not
//     complete within Options.FollowLimit (2 min) ends the manager with an
//     error, redis-server stopped and never unfenced: the container restarts
//     and the fence begins again with a fresh process (a fenced instance
//     waiting for ever answers everyone WRONGPASS and keeps its shard short
//     of a replica, with nothing to repair it: the guardian sees a Pod that
//     runs but does not answer, not a lost one).
//   - Wait: the replicas cannot be reached; look again until Options.Timeout,
//     then serve (availability: a replica nobody can reach cannot resync
//     either; the marker says the decision was unverified).
//
// Then the fence is lifted (CONFIG SET requirepass to the configured value)
// and the decision is recorded in MarkerFile (dayops-fence.json in the data
// directory) for the worker to report as an audit event.
//
// # Lifecycle
//
// Signals the manager receives are forwarded to redis-server (a serving
// primary steps aside before the first SIGTERM: package stepaside); the
// manager exits when redis-server does, with its status (128+signal when
// killed), so the container restarts as it would without the manager. While
// redis-server serves, the manager watches whether a slot move's hold on
// failover outlived its mover (package holdwatch): a replica held from
// failing its primary over, the primary failed for 20 s, is taken over the
// way the mover would.
//
// `dayops instance install --to DIR` (the init container) hard-links or
// copies the running binary into DIR (an emptyDir shared with the redis
// container).
package instance
