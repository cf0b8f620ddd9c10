package audit

// Self-healing events: what the guardian saw and what recover and switchover
// did. They are cluster events (no operation ID of a user: the guardian's own
// records carry the system actor in their metadata); a recover or switchover
// operation records its steps under its own operation ID as any operation.
const (
	TypeInstanceLost      = "InstanceLost"
	TypeFailoverObserved  = "FailoverObserved"
	TypeFenced            = "Fenced"
	TypeInstanceRecovered = "InstanceRecovered"
	TypeClusterDegraded   = "ClusterDegraded"
	TypeClusterHealthy    = "ClusterHealthy"
	TypeSwitchedOver      = "SwitchedOver"
	TypeHoldReleased      = "FailoverHoldReleased"
	TypeOpenSlotsClosed   = "OpenSlotsClosed"
	TypeWritesRefused     = "WritesRefused"
)

// SystemActor is the actor of every event the guardian records on its own.
const SystemActor = "system:guardian"

// InstanceLost: an instance will not come back by itself (Pod gone, stuck on
// a dead node, or back without its identity).
type InstanceLost struct {
	Cluster string `json:"cluster"`
	Shard   int    `json:"shard"`
	Ordinal int    `json:"ordinal"`
	NodeID  string `json:"node_id,omitempty"`
	Reason  string `json:"reason"`
}

// FailoverObserved: Redis promoted a replica on its own; labels and the
// shard's Service followed.
type FailoverObserved struct {
	Cluster     string `json:"cluster"`
	Shard       int    `json:"shard"`
	FromOrdinal int    `json:"from_ordinal"`
	ToOrdinal   int    `json:"to_ordinal"`
	// LabelledMS is how long after the guardian noticed the promotion the
	// role labels were true again.
	LabelledMS int64 `json:"labelled_ms"`
}

// Fenced: a restarted former primary was kept from serving (and from being
// a sync source) until its instance manager had compared its data with its
// replicas'; Action is what it then did: serve (no replica was ahead),
// takeover (a replica ahead took over, the node came back as its replica)
// or follow (Redis had failed over already). The guardian records it from
// the manager's fence record, once per FenceID.
type Fenced struct {
	Cluster string `json:"cluster"`
	Shard   int    `json:"shard"`
	Ordinal int    `json:"ordinal"`
	Reason  string `json:"reason"`
	FenceID string `json:"fence_id"`
	Action  string `json:"action"`
	// Role is the instance's role when it began to serve.
	Role string `json:"role"`
	// ServeAfterMS is how long redis-server stayed fenced.
	ServeAfterMS int64 `json:"serve_after_ms"`
	// SelfOffset is the restarted node's replication offset (its loaded
	// data), ReplicaOffset the furthest reachable replica's.
	SelfOffset    int64 `json:"self_offset"`
	ReplicaOffset int64 `json:"replica_offset"`
	// Unverified: it served after the manager's timeout without reaching
	// any replica.
	Unverified bool `json:"unverified,omitempty"`
}

// InstanceRecovered: a lost instance is back with its ordinal, a replica in
// sync with its shard's primary.
type InstanceRecovered struct {
	OperationID string `json:"operation_id"`
	Cluster     string `json:"cluster"`
	Shard       int    `json:"shard"`
	Ordinal     int    `json:"ordinal"`
	// NewVolume is true when the old volume was gone and a new one was made.
	NewVolume bool `json:"new_volume"`
	// ForgottenNodeID is the dead node ID every node forgot ("" when the
	// instance came back with its own identity).
	ForgottenNodeID string `json:"forgotten_node_id,omitempty"`
	Zone            string `json:"zone,omitempty"`
}

// ClusterDegraded: the guardian found the cluster not whole.
type ClusterDegraded struct {
	Cluster string   `json:"cluster"`
	Reasons []string `json:"reasons"`
}

// ClusterHealthy: the cluster is whole again.
type ClusterHealthy struct {
	Cluster string `json:"cluster"`
	// DegradedMS is how long it was degraded (time to repair).
	DegradedMS int64 `json:"degraded_ms"`
}

// SwitchedOver: a planned switchover made another replica the shard's primary.
type SwitchedOver struct {
	OperationID string `json:"operation_id"`
	Cluster     string `json:"cluster"`
	Shard       int    `json:"shard"`
	FromOrdinal int    `json:"from_ordinal"`
	ToOrdinal   int    `json:"to_ordinal"`
}

// FailoverHoldReleased: the guardian cleared cluster-replica-no-failover on
// an instance that a slot move had left held (its workflow ended without
// the move's release, e.g. terminated while its worker was down): no
// operation ran, the cluster was healthy and the instance's primary had no
// slot migrating, on two looks at least Sweep apart. Redis fails its shard
// over by itself again, without the instance manager's grace.
type FailoverHoldReleased struct {
	Cluster string `json:"cluster"`
	Shard   int    `json:"shard"`
	Ordinal int    `json:"ordinal"`
	// Role is the instance's role when the hold was cleared.
	Role string `json:"role"`
}

// OpenSlotsClosed: recover closed the slots a slot move cut short left
// open (MIGRATING on its source, IMPORTING on its target, no move
// running): Forward slots were finished towards the node that held keys of
// them (the target, or the replica that took a lost target's place),
// RolledBack slots stayed with their owner. Slot lists are ranges
// ("42,100-101").
type OpenSlotsClosed struct {
	OperationID string `json:"operation_id"`
	Cluster     string `json:"cluster"`
	Forward     string `json:"forward,omitempty"`
	RolledBack  string `json:"rolled_back,omitempty"`
}

// WritesRefused: a shard's primary refused writes (and PINGs) with MISCONF
// on two sweeps in a row while no operation ran: it cannot write to its
// disk (a full or failing volume under its AOF), stays the primary, and the
// shard takes no write until the disk has room. Action is what the guardian
// did: "switchover" (the operation OperationID hands the shard to a replica
// whose disk takes writes; its SwitchedOver names the replica), or "none"
// (no replica of the shard takes writes either: only room on the volume
// ends it).
type WritesRefused struct {
	Cluster     string `json:"cluster"`
	Shard       int    `json:"shard"`
	Ordinal     int    `json:"ordinal"`
	Reason      string `json:"reason"`
	Action      string `json:"action"`
	OperationID string `json:"operation_id,omitempty"`
}

func init() {
	for _, t := range []string{TypeInstanceLost, TypeFailoverObserved, TypeFenced, TypeInstanceRecovered,
		TypeClusterDegraded, TypeClusterHealthy, TypeSwitchedOver, TypeHoldReleased, TypeOpenSlotsClosed, TypeWritesRefused} {
		schemaVersions[t] = 1
	}
}

func newSelfHealPayload(eventType string) Payload {
	switch eventType {
	case TypeInstanceLost:
		return &InstanceLost{}
	case TypeFailoverObserved:
		return &FailoverObserved{}
	case TypeFenced:
		return &Fenced{}
	case TypeInstanceRecovered:
		return &InstanceRecovered{}
	case TypeClusterDegraded:
		return &ClusterDegraded{}
	case TypeClusterHealthy:
		return &ClusterHealthy{}
	case TypeSwitchedOver:
		return &SwitchedOver{}
	case TypeHoldReleased:
		return &FailoverHoldReleased{}
	case TypeOpenSlotsClosed:
		return &OpenSlotsClosed{}
	case TypeWritesRefused:
		return &WritesRefused{}
	}
	return nil
}

func (InstanceLost) EventType() string         { return TypeInstanceLost }
func (FailoverObserved) EventType() string     { return TypeFailoverObserved }
func (Fenced) EventType() string               { return TypeFenced }
func (InstanceRecovered) EventType() string    { return TypeInstanceRecovered }
func (ClusterDegraded) EventType() string      { return TypeClusterDegraded }
func (ClusterHealthy) EventType() string       { return TypeClusterHealthy }
func (SwitchedOver) EventType() string         { return TypeSwitchedOver }
func (FailoverHoldReleased) EventType() string { return TypeHoldReleased }
func (OpenSlotsClosed) EventType() string      { return TypeOpenSlotsClosed }
func (WritesRefused) EventType() string        { return TypeWritesRefused }

func (p InstanceLost) SchemaVersion() int         { return schemaVersions[p.EventType()] }
func (p FailoverObserved) SchemaVersion() int     { return schemaVersions[p.EventType()] }
func (p Fenced) SchemaVersion() int               { return schemaVersions[p.EventType()] }
func (p InstanceRecovered) SchemaVersion() int    { return schemaVersions[p.EventType()] }
func (p ClusterDegraded) SchemaVersion() int      { return schemaVersions[p.EventType()] }
func (p ClusterHealthy) SchemaVersion() int       { return schemaVersions[p.EventType()] }
func (p SwitchedOver) SchemaVersion() int         { return schemaVersions[p.EventType()] }
func (p FailoverHoldReleased) SchemaVersion() int { return schemaVersions[p.EventType()] }
func (p OpenSlotsClosed) SchemaVersion() int      { return schemaVersions[p.EventType()] }
func (p WritesRefused) SchemaVersion() int        { return schemaVersions[p.EventType()] }

func (p InstanceLost) ClusterName() string         { return p.Cluster }
func (p FailoverObserved) ClusterName() string     { return p.Cluster }
func (p Fenced) ClusterName() string               { return p.Cluster }
func (p InstanceRecovered) ClusterName() string    { return p.Cluster }
func (p ClusterDegraded) ClusterName() string      { return p.Cluster }
func (p ClusterHealthy) ClusterName() string       { return p.Cluster }
func (p SwitchedOver) ClusterName() string         { return p.Cluster }
func (p FailoverHoldReleased) ClusterName() string { return p.Cluster }
func (p OpenSlotsClosed) ClusterName() string      { return p.Cluster }
func (p WritesRefused) ClusterName() string        { return p.Cluster }

// Recover and switchover events belong to their operation's stream.
func (p InstanceRecovered) operation() string { return p.OperationID }
func (p SwitchedOver) operation() string      { return p.OperationID }
func (p OpenSlotsClosed) operation() string   { return p.OperationID }
