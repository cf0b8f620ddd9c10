// Package redisops is the Temporal activity adapter over the Redis Cluster
// administration library internal/redis/clusteradmin (which imports no
// Temporal package; this package is the only Redis code under activities).
// It authenticates with the cluster's
// password read from its Secret at run time (a password never enters workflow
// history), turns clusteradmin's progress into heartbeats and resumes a slot
// migration from the last heartbeat after a retry, and classifies errors once
// into Temporal application errors with clusteradmin's stable type names
// (non-retryable for a key over the limit, a busy-key conflict or a plan
// conflict; retryable for TRYAGAIN, CLUSTERDOWN, LOADING, resets).
//
// Every activity is idempotent because the clusteradmin operations are: they
// observe first and act only when needed.
package redisops
