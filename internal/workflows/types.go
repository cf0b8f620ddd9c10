package workflows

import (
	"time"

	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
)

// TaskQueue is the task queue of dayops' workers.
const TaskQueue = "dayops"

// Search attributes registered by `dayops-dev dev up` (and, on a real Temporal,
// by the operator): keyword attributes that make operations findable in the UI.
const (
	SearchAttrCluster     = "DayopsCluster"     // "<namespace>/<cluster>"
	SearchAttrOperation   = "DayopsOperation"   // the OperationType
	SearchAttrOperationID = "DayopsOperationID" // Meta.OperationID
	SearchAttrRequester   = "DayopsRequester"   // Meta.Actor
	SearchAttrShard       = "DayopsShard"       // for per-shard child workflows
)

// QueryProgress is the name of the query every operation answers with Progress.
const QueryProgress = "progress"

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
}

// ScaleReplicasInput changes the number of replicas of every shard.
type ScaleReplicasInput struct {
	Meta             Meta        `json:"meta"`
	ReplicasPerShard int         `json:"replicasPerShard"`
	Hooks            []spec.Hook `json:"hooks,omitempty"`
	AllowSharedZones bool        `json:"allowSharedZones,omitempty"`
}

// DeleteClusterInput deletes a cluster and everything it owns.
type DeleteClusterInput struct {
	Meta Meta `json:"meta"`
	// DeleteVolumes also deletes the instances' PersistentVolumeClaims; by
	// default they are kept so the data can still be recovered.
	DeleteVolumes bool        `json:"deleteVolumes,omitempty"`
	Hooks         []spec.Hook `json:"hooks,omitempty"`
}

// Outcome is how an operation ended.
type Outcome string

// Outcomes.
const (
	OutcomeSucceeded  Outcome = "succeeded"
	OutcomeFailed     Outcome = "failed"
	OutcomeCancelled  Outcome = "cancelled"
	OutcomeRolledBack Outcome = "rolled-back"
)

// Result is what every operation workflow returns.
type Result struct {
	OperationID string        `json:"operationId"`
	Outcome     Outcome       `json:"outcome"`
	Message     string        `json:"message,omitempty"`
	Duration    time.Duration `json:"duration"`
	Progress    Progress      `json:"progress"`
}

// Progress is the live state of an operation, answered by QueryProgress and
// shown by the API, the CLI's progress bar and the Temporal UI.
type Progress struct {
	OperationID string        `json:"operationId"`
	Type        OperationType `json:"type"`
	// Phase is a short machine-readable stage, e.g. "creating-instances",
	// "migrating", "draining", "deleting".
	Phase string `json:"phase"`
	// Step is a human sentence for the step under way.
	Step       string `json:"step,omitempty"`
	StepsDone  int    `json:"stepsDone"`
	StepsTotal int    `json:"stepsTotal"`
	// Slot migration figures (zero for operations that move no slot).
	SlotsMoved    int     `json:"slotsMoved"`
	SlotsTotal    int     `json:"slotsTotal"`
	KeysMoved     int64   `json:"keysMoved"`
	BytesMoved    int64   `json:"bytesMoved"`
	KeysPerSecond float64 `json:"keysPerSecond"`
	// ETA is the estimated time left of the current phase; zero when unknown.
	ETA       time.Duration `json:"eta"`
	StartedAt time.Time     `json:"startedAt"`
	UpdatedAt time.Time     `json:"updatedAt"`
	// Done is true once the operation has ended; Outcome is then set.
	Done    bool    `json:"done"`
	Outcome Outcome `json:"outcome,omitempty"`
	Message string  `json:"message,omitempty"`
	// Upgrade is the state of an upgrade (nil for other operations).
	Upgrade *UpgradeProgress `json:"upgrade,omitempty"`
}
