// Package devrun is the stub of `dayops-dev run`: an HTTP API with /healthz and
// /readyz and a Temporal worker on task queue "dayops" with one trivial
// workflow (PingWorkflow -> PingActivity).
//
// Contract: Serve returns only after both the API and the worker have
// stopped; it never exits the process. The workflow is deterministic (it only
// calls workflow.* APIs); the activity has no side effects, so retries are
// harmless. Both are placeholders until the operations issue registers the
// real workflows here.
package devrun
