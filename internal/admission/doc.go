// Package admission decides whether an operation may start, and with which
// plan: one registry, an entry per operation type, used by the API for real
// requests and dry runs alike, so the plan a user previews is the plan the
// workflow is given (and runs, see workflows.checkPlan).
//
// An Entry has four parts, run in order by Registry.Admit:
//
//   - Validate checks and defaults the request's own fields; nothing is read.
//     Its refusals are Invalid (HTTP 422).
//   - Observe reads the live state the plan needs through small interfaces
//     (Cluster, the backup store, Health: the guardian's view); a missing
//     cluster is NotFound (404), a dependency that does not answer
//     Unavailable (503).
//   - Plan is pure planner code with the configured limits; a
//     planner.Rejection becomes Invalid (422) or, when live state is the
//     reason, Conflict (409).
//   - Start names the workflow and its ID and builds the typed workflow
//     input, carrying the admitted plan and the limits it was made with.
//
// The API never calls an activity: internal/server wires an adapter over the
// Kubernetes and Redis clients that implements Cluster, and internal/httpapi
// one over the guardian's health query that implements Health.
//
// # Health and the self-healing operations
//
// Scale and upgrade need the whole cluster: their plans refuse a
// degraded one (409) and name `dayops cluster recover`. Recover and
// switchover (selfheal_ops.go) exist to repair a degraded cluster and are
// admitted there, as are backup (its primaries must serve every slot) and
// delete. Recover reads Kubernetes only and the guardian's lost instances;
// switchover is guard.PlanSwitchover on the observed state, and its
// workflow compares that plan with a fresh one (guard.SwitchoverPlan.Diverged).
//
// # Adding an operation type
//
//  1. Add the type to internal/apiv1 and internal/operation (operation.Recover).
//  2. Put its pure planning in internal/planner (or internal/guard for the
//     self-healing plans); any rule the workflow applies too lives there, once.
//  3. Give the workflow input `Plan *planner.Plan` and `Limits *planner.Limits`
//     (fields added, never changed in meaning); in the workflow, take them
//     with admitted(...) and compare with the fresh plan through
//     r.checkPlan(...) before the first change.
//  4. Add the request's fields to Request (a sub-struct such as
//     SwitchoverOptions when there are several), write its entry (e.g.
//     switchoverEntry()) in its own file returning an Entry, and list it in
//     builtins() (or call Registry.Add from the wiring).
//  5. Route it in internal/httpapi: build an admission.Request and call
//     s.launch(ctx, req, reason, dryRun); add the type to the
//     start-operation endpoint's list if it is started there.
//  6. Add a case to TestDryRunPlanIsThePlanThatRuns (plan_test.go): the dry
//     run's plan must equal the plan the workflow runs.
package admission
