// Package clusteradmin is the Redis Cluster administration core of dayops:
// meet, assign slots, replicate, detect roles, wait for replicas to be in
// sync, planned failover, forget, reset, wait for convergence; the parsing
// of CLUSTER NODES and INFO (ParseClusterNodes, ClusterView, NodeInfo,
// ParseInfo), the ClientPool, the Limits, and the error classification.
//
// Slot migration lives apart: internal/redis/slotmigrate (MigrateSlots,
// CloseOpenSlots, Probe, progress) and its copy path internal/redis/slotcopy
// run on the small plumbing this package exports for them (Admin.Client,
// View, Poll, Retry, Resolve, Logger, Limits.WithDefaults, Transient), and
// internal/redis/pace is their latency-budget pacer.
//
// It is a library, not an activity package: it imports no go.temporal.io
// package (tests/layout checks it with go list -deps), and its Temporal
// adapter is internal/activities/redisops.
//
// Contract, for the activity wrappers of the operations workflows:
//   - Every operation is a method of Admin (which holds the client factory,
//     the logger and the limits) taking a context first, one input struct,
//     and returning one result struct.
//   - Idempotent: each method observes the cluster first and acts only when
//     needed; "already so" is success.
//   - Errors are wrapped with %w and classified once by Classify into stable
//     type names (TypeTransient, TypeKeyTooBig, ...). Transient conditions
//     (TRYAGAIN, ASK, MOVED, CLUSTERDOWN, LOADING, connection resets) are
//     retried inside with back-off for Limits.RetryFor before they surface.
//   - Methods are safe for concurrent use.
package clusteradmin
