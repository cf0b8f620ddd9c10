// Package lifecycle holds the workflows that create, scale (shards and
// replicas) and delete a cluster, and the slot migration scale-out and
// scale-in share. Each runs the plan the API admitted after checking it
// against fresh state (flow.CheckPlan). Workflow contract: see package
// workflows.
package lifecycle
