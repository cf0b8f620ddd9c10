package apiv1

import "time"

// OperationType names a lifecycle operation.
type OperationType string

// Operation types.
const (
	OpCreate        OperationType = "create"
	OpScaleShards   OperationType = "scale-shards"
	OpScaleReplicas OperationType = "scale-replicas"
	OpDelete        OperationType = "delete"
	OpBackup        OperationType = "backup"
	OpRestore       OperationType = "restore"
	OpDeleteBackup  OperationType = "delete-backup"
	OpUpgrade       OperationType = "upgrade"
	// OpRecover and OpSwitchover are the self-healing operation types.
	OpRecover    OperationType = "recover"
	OpSwitchover OperationType = "switchover"
)

// Outcome is how an operation ended.
type Outcome string

// Outcomes.
const (
	OutcomeSucceeded  Outcome = "succeeded"
	OutcomeFailed     Outcome = "failed"
	OutcomeCancelled  Outcome = "cancelled"
	OutcomeRolledBack Outcome = "rolled-back"
)

// Temporal workflow statuses as the API reports them in Operation.Status.
const (
	StatusRunning   = "Running"
	StatusCompleted = "Completed"
)

// Progress is the live state of an operation, answered by the workflows'
// progress query and shown by the API, the CLI's progress display and the
// Temporal UI.
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

// Names of the upgrade's updates and signals (and of the API's decision
// endpoints).
const (
	// UpdateApprove lets an upgrade go on after its canary baked (Decision).
	UpdateApprove = "approve"
	// UpdateAbort stops an upgrade and rolls back what it changed (Decision).
	UpdateAbort = "abort"
	// SignalPause holds an upgrade before its next instance step (Decision).
	SignalPause = "pause"
	// SignalResume lets a paused upgrade go on (Decision).
	SignalResume = "resume"
)

// Upgrade stages shown in UpgradeProgress.Stage.
const (
	StageCanary           = "canary"
	StageBaking           = "baking"
	StageAwaitingApproval = "awaiting-approval"
	StageRolling          = "rolling"
	StageRollingBack      = "rolling-back"
	StageFinishing        = "finishing"
	StageDone             = "done"
)

// Decision is the input of the approve and abort updates and of the pause
// and resume signals: who decided, and why.
type Decision struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
}

// DecisionResult answers an approve or abort update.
type DecisionResult struct {
	Accepted bool   `json:"accepted"`
	Stage    string `json:"stage"`
	Message  string `json:"message"`
}

// UpgradeProgress is the upgrade part of Progress.
type UpgradeProgress struct {
	Stage       string `json:"stage"`
	Image       string `json:"image,omitempty"`
	FromImage   string `json:"fromImage,omitempty"`
	ShardsDone  int    `json:"shardsDone"`
	ShardsTotal int    `json:"shardsTotal"`
	Canary      []int  `json:"canary,omitempty"`
	// Instance is the Pod being changed now.
	Instance string `json:"instance,omitempty"`
	// Gate is the last gate evaluation's outcome ("passed: ...", "failed:
	// ...", "evaluating").
	Gate            string    `json:"gate,omitempty"`
	GateEvaluations int       `json:"gateEvaluations"`
	BakeEndsAt      time.Time `json:"bakeEndsAt,omitzero"`
	Paused          bool      `json:"paused,omitempty"`
	PausedBy        string    `json:"pausedBy,omitempty"`
	ApprovedBy      string    `json:"approvedBy,omitempty"`
	AbortedBy       string    `json:"abortedBy,omitempty"`
	RolledBack      bool      `json:"rolledBack,omitempty"`
	// Reason is why the upgrade rolled back.
	Reason string `json:"reason,omitempty"`
}

// DecisionBody is the body of approve, abort, pause and resume.
type DecisionBody struct {
	Reason string `json:"reason,omitempty" doc:"why: recorded with the decision in the audit log"`
}

// DecisionAnswer is what an approve, abort, pause or resume did.
type DecisionAnswer struct {
	OperationID string `json:"operationId"`
	Decision    string `json:"decision"`
	Actor       string `json:"actor"`
	Accepted    bool   `json:"accepted"`
	Stage       string `json:"stage,omitempty"`
	Message     string `json:"message"`
}
