package flow

import (
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/searchattr"
)

// TaskQueue is the task queue of dayops' workers.
const TaskQueue = "dayops"

// Search attributes registered by `dayops-dev dev up` (and, on a real Temporal,
// by the operator): keyword attributes that make operations findable in the UI.
const (
	SearchAttrCluster     = searchattr.Cluster     // "<namespace>/<cluster>"
	SearchAttrOperation   = searchattr.Operation   // the OperationType
	SearchAttrOperationID = searchattr.OperationID // Meta.OperationID
	SearchAttrRequester   = searchattr.Requester   // Meta.Actor
	SearchAttrShard       = searchattr.Shard       // for per-shard child workflows
)

// QueryProgress is the name of the query every operation answers with Progress.
const QueryProgress = "progress"

// QueryPlan answers the plan the operation runs (the admitted one once it
// was checked against fresh state; nil before).
const QueryPlan = "plan"

// WorkflowID is the ID of the one mutating operation a cluster may run at a
// time (operation.WorkflowID).
func WorkflowID(namespace, cluster string) string { return operation.WorkflowID(namespace, cluster) }

// Meta is the operation every workflow input carries (see package operation).
type Meta = operation.Meta

// OperationType names a lifecycle operation.
type OperationType = operation.Type

// Operation types, re-exported for the workflows' callers.
const (
	OpCreate        = operation.Create
	OpScaleShards   = operation.ScaleShards
	OpScaleReplicas = operation.ScaleReplicas
	OpDelete        = operation.Delete
	OpUpgrade       = operation.Upgrade
)

// Outcome is how an operation ended (a wire type, defined in apiv1).
type Outcome = apiv1.Outcome

// Outcomes.
const (
	OutcomeSucceeded  = apiv1.OutcomeSucceeded
	OutcomeFailed     = apiv1.OutcomeFailed
	OutcomeCancelled  = apiv1.OutcomeCancelled
	OutcomeRolledBack = apiv1.OutcomeRolledBack
)

// Result is what every operation workflow returns.
type Result struct {
	OperationID string        `json:"operationId"`
	Outcome     Outcome       `json:"outcome"`
	Message     string        `json:"message,omitempty"`
	Duration    time.Duration `json:"duration"`
	Progress    Progress      `json:"progress"`
	// Plan is the plan the operation ran (nil for results recorded before
	// it was returned, and for operations without one).
	Plan *planner.Plan `json:"plan,omitempty"`
}

// Progress is the live state of an operation, answered by QueryProgress and
// shown by the API, the CLI and the Temporal UI. It is a wire type, defined
// in apiv1; its JSON shape is part of recorded histories.
type Progress = apiv1.Progress
