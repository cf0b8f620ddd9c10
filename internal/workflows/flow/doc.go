// Package flow is what every dayops operation workflow shares: the Run (meta,
// the one progress tracker, the plan, the progress and plan queries, steps as
// activities, audit records, hooks, the end of an operation), the re-check of
// an admitted plan against fresh state (CheckPlan, CheckMoves), the activity
// option presets, the workflow ID and search attributes, and the cluster
// steps several operation families use (wait for instances, attach replicas,
// label roles, observe).
//
// Contract: deterministic code only (see package workflows); a Run's methods
// take the workflow.Context of the coroutine that calls them, so coroutines
// share one Run and one progress without swapping a stored context.
package flow
