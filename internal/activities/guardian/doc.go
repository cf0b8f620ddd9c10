// Package guardian holds the activities of the guardian and of the
// self-healing operations: one observation of a cluster (Pods, Kubernetes
// nodes, volumes and every redis-server) fed to the pure package guard, a
// watch that repeats it every Interval and returns only when something needs
// a decision, the start of a recover operation, and force-deleting Pods
// stuck on a dead node.
//
// Contract: observation is read-only except for role labels, which the
// watch corrects on the spot (making labels true is always safe, and doing it
// where the promotion is seen is what keeps a shard's Service within a second
// or two of Redis's own failover). Every other change is made by an operation
// workflow. Redis connections use short timeouts: a dead node must cost the
// watch a refused or timed-out dial, not a stall.
package guardian
