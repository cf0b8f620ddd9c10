// Package guard decides, from one observation of a cluster (its Pods as
// Kubernetes sees them and its Redis nodes as they describe themselves),
// whether the cluster is whole, which role labels are stale, which
// instances are lost, which failovers Redis made on its own and which shards
// break the zone rule.
//
// Contract: pure and deterministic (no I/O, no clock, no Temporal or client
// import), so the guardian workflow can carry its result in history and the
// rules are table-tested. Assess never decides to act while an operation of
// the cluster runs except to relabel roles, which only makes labels true.
package guard
