package apiv1

import (
	"time"

	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
)

// CreateClusterBody is a cluster spec plus why it is wanted.
type CreateClusterBody struct {
	spec.Cluster
	// Reason is recorded with every audit event of the operation.
	Reason string `json:"reason,omitempty" doc:"why: recorded with every audit event of the operation"`
}

// OperationBody starts an operation on an existing cluster.
type OperationBody struct {
	Type OperationType `json:"type" enum:"scale-shards,scale-replicas,upgrade,recover,switchover" doc:"the operation"`
	// Shards is the target shard count (scale-shards).
	Shards int `json:"shards,omitempty" doc:"target number of shards (scale-shards)"`
	// ReplicasPerShard is the target replica count (scale-replicas).
	ReplicasPerShard *int        `json:"replicasPerShard,omitempty" doc:"target replicas per shard (scale-replicas)"`
	Hooks            []spec.Hook `json:"hooks,omitempty" doc:"hooks for this operation, in addition to the cluster's"`
	// AllowSharedZones accepts instances of one shard sharing a zone.
	AllowSharedZones bool   `json:"allowSharedZones,omitempty"`
	Reason           string `json:"reason,omitempty" doc:"why: recorded with every audit event of the operation"`
	// Shard and To are the switchover's shard and, optionally, the ordinal
	// of the replica to promote.
	Shard *int `json:"shard,omitempty" doc:"shard to switch over (switchover)"`
	To    *int `json:"to,omitempty" doc:"ordinal of the replica to promote (switchover; default: an in-sync replica keeping the zone rule)"`
	// Upgrade holds the upgrade's fields (image, config, canary, bake, gate...).
	spec.Upgrade
}

// OperationAccepted answers a started (or dry-run) operation.
type OperationAccepted struct {
	// OperationID is empty for a dry run.
	OperationID string       `json:"operationId,omitempty"`
	Type        string       `json:"type"`
	Namespace   string       `json:"namespace"`
	Cluster     string       `json:"cluster"`
	DryRun      bool         `json:"dryRun"`
	Plan        planner.Plan `json:"plan"`
	WorkflowID  string       `json:"workflowId,omitempty"`
	RunID       string       `json:"runId,omitempty"`
	// TemporalURL opens the operation in the Temporal Web UI.
	TemporalURL string `json:"temporalUrl,omitempty"`
}

// Operation is an operation's status.
type Operation struct {
	OperationID string `json:"operationId"`
	Type        string `json:"type"`
	Namespace   string `json:"namespace"`
	Cluster     string `json:"cluster"`
	Requester   string `json:"requester,omitempty"`
	// Status is Temporal's: Running, Completed, Failed, Canceled, Terminated, TimedOut.
	Status      string    `json:"status"`
	Progress    Progress  `json:"progress"`
	Error       string    `json:"error,omitempty"`
	StartedAt   time.Time `json:"startedAt"`
	ClosedAt    time.Time `json:"closedAt,omitzero"`
	WorkflowID  string    `json:"workflowId"`
	RunID       string    `json:"runId"`
	TemporalURL string    `json:"temporalUrl,omitempty"`
}

// ClusterInstance is one instance of a cluster as Kubernetes and Redis see it.
type ClusterInstance struct {
	Ordinal int    `json:"ordinal"`
	Shard   int    `json:"shard"`
	Pod     string `json:"pod"`
	Address string `json:"address,omitempty"`
	Role    string `json:"role,omitempty"`
	Zone    string `json:"zone,omitempty"`
	Node    string `json:"node,omitempty"`
	Ready   bool   `json:"ready"`
	NodeID  string `json:"nodeId,omitempty"`
	InSync  bool   `json:"inSync,omitempty"`
	Keys    int64  `json:"keys"`
	Image   string `json:"image,omitempty"`
	// UsedMemory is bytes.
	UsedMemory int64 `json:"usedMemory"`
}

// ClusterDetail is a cluster's spec, live instances and health, and its last
// operation from the audit log.
type ClusterDetail struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Spec      spec.Cluster      `json:"spec"`
	Instances []ClusterInstance `json:"instances"`
	Health    planner.Health    `json:"health"`
	Healthy   bool              `json:"healthy"`
	// Slots per shard, as the primaries own them.
	Slots         map[string]string `json:"slots,omitempty"`
	LastOperation *LastOperation    `json:"lastOperation,omitempty"`
	// State, Reasons, Desired and ReadyInstances come from the cluster's
	// guardian (State is empty when no guardian answered).
	State          string   `json:"state,omitempty" doc:"Healthy, Degraded or Busy, from the guardian"`
	Reasons        []string `json:"reasons,omitempty"`
	Desired        int      `json:"desired,omitempty"`
	ReadyInstances int      `json:"readyInstances,omitempty"`
	// PendingAuditEvents counts the guardian's events waiting for the audit
	// database (it is down; they are recorded once it answers).
	PendingAuditEvents int `json:"pendingAuditEvents,omitempty" doc:"guardian events waiting for the audit database"`
}

// LastOperation is the last operation the audit log knows of.
type LastOperation struct {
	ID     string    `json:"id"`
	Type   string    `json:"type,omitempty"`
	Status string    `json:"status"`
	Error  string    `json:"error,omitempty"`
	Actor  string    `json:"actor,omitempty"`
	At     time.Time `json:"at"`
}

// ClusterSummary is one line of the cluster list.
type ClusterSummary struct {
	Name             string `json:"name"`
	Namespace        string `json:"namespace"`
	Shards           int    `json:"shards"`
	ReplicasPerShard int    `json:"replicasPerShard"`
	Image            string `json:"image"`
	Instances        int    `json:"instances"`
	Ready            int    `json:"ready"`
	// Desired is shards x (1 + replicas); State and Reasons come from the
	// cluster's guardian (empty when none answered).
	Desired int      `json:"desired"`
	State   string   `json:"state,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
}

// Event is one audit event.
type Event struct {
	Position      int64     `json:"position"`
	ID            string    `json:"id"`
	Stream        string    `json:"stream"`
	Type          string    `json:"type"`
	SchemaVersion int       `json:"schemaVersion"`
	Payload       any       `json:"payload"`
	Actor         string    `json:"actor"`
	Reason        string    `json:"reason,omitempty"`
	CorrelationID string    `json:"correlationId,omitempty"`
	CausationID   string    `json:"causationId,omitempty"`
	RecordedAt    time.Time `json:"recordedAt"`
	// Version is the event's version in its stream.
	Version int64 `json:"version,omitempty"`
	// Cluster is the cluster the event's metadata names.
	Cluster string `json:"cluster,omitempty"`
	// Hash is the event's hash in the chain (hex), when asked for.
	Hash string `json:"hash,omitempty"`
}

// EventPage is a page of events; Next is the `after` of the next page (0 when
// there is none).
type EventPage struct {
	Events []Event `json:"events"`
	Next   int64   `json:"next,omitempty"`
}

// Credentials are what a client needs to connect to a cluster.
type Credentials struct {
	Namespace string   `json:"namespace"`
	Cluster   string   `json:"cluster"`
	Password  string   `json:"password"`
	Secret    string   `json:"secret" doc:"the Secret the password is read from"`
	Addresses []string `json:"addresses" doc:"host:port of every primary, seeds for a cluster client"`
}
