// Package planner turns the observed state of a cluster and a request into
// the exact plan an operation will carry out: which instances are created or
// deleted (with their ordinals and shards), which slot ranges move from which
// shard to which, how zones are used, and which hooks run where.
//
// Contract: planner is pure (no SDK or client imports) and deterministic, so
// the API's dry-run and admission guard and the workflows compute the same
// plan from the same state. A request the plan cannot honour is refused with
// a *Rejection listing every reason with its field path; Conflict marks
// reasons that come from live state (HTTP 409) rather than from the request
// itself (HTTP 422).
package planner
