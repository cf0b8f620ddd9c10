// Package spec holds the user-facing description of a Redis cluster (the
// cluster spec) and of its hooks, with defaults and validation.
//
// Contract: spec is pure. It imports no Temporal, Kubernetes client or Redis
// client code, so the API, the workflows and the planner can all share it.
// Validate reports every problem at once, each with the field path and the
// reason, and never mutates its input; Default fills unset fields with the
// documented defaults and is idempotent. The JSON field names are the REST
// API's, so a change here is an API change: add fields, never change meaning.
package spec
