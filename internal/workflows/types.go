package workflows

import (
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/searchattr"
	"github.com/dayops/dayops/internal/spec"
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
// time. It does not depend on the operation type.
func WorkflowID(namespace, cluster string) string { return "dayops/" + namespace + "/" + cluster }

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

// CreateClusterInput creates a new cluster from a validated, defaulted spec.
type CreateClusterInput struct {
	Meta Meta         `json:"meta"`
	Spec spec.Cluster `json:"spec"`
	// Plan is the plan the API computed and showed (planner.PlanCreate).
	Plan planner.Plan `json:"plan"`
	// Limits are the limits the plan was admitted with (nil in inputs
	// recorded before they travelled).
	Limits *planner.Limits `json:"limits,omitempty"`
}

// ScaleShardsInput changes the number of shards, moving slots accordingly.
type ScaleShardsInput struct {
	Meta   Meta `json:"meta"`
	Shards int  `json:"shards"`
	// Hooks are run in addition to the cluster spec's hooks.
	Hooks []spec.Hook `json:"hooks,omitempty"`
	// AllowSharedZones accepts placements where a primary shares a zone with
	// one of its replicas because there are too few zones.
	AllowSharedZones bool `json:"allowSharedZones,omitempty"`
	// Plan is the plan the API admitted and showed, and Limits the limits
	// it was made with (both nil in inputs recorded before they travelled:
	// the workflow then plans itself with planner.DefaultLimits).
	Plan   *planner.Plan   `json:"plan,omitempty"`
	Limits *planner.Limits `json:"limits,omitempty"`
}

// ScaleReplicasInput changes the number of replicas of every shard.
type ScaleReplicasInput struct {
	Meta             Meta        `json:"meta"`
	ReplicasPerShard int         `json:"replicasPerShard"`
	Hooks            []spec.Hook `json:"hooks,omitempty"`
	AllowSharedZones bool        `json:"allowSharedZones,omitempty"`
	// Plan and Limits: as in ScaleShardsInput.
	Plan   *planner.Plan   `json:"plan,omitempty"`
	Limits *planner.Limits `json:"limits,omitempty"`
}

// DeleteClusterInput deletes a cluster and everything it owns.
type DeleteClusterInput struct {
	Meta Meta `json:"meta"`
	// DeleteVolumes also deletes the instances' PersistentVolumeClaims; by
	// default they are kept so the data can still be recovered.
	DeleteVolumes bool        `json:"deleteVolumes,omitempty"`
	Hooks         []spec.Hook `json:"hooks,omitempty"`
	// Plan and Limits: as in ScaleShardsInput.
	Plan   *planner.Plan   `json:"plan,omitempty"`
	Limits *planner.Limits `json:"limits,omitempty"`
}

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
