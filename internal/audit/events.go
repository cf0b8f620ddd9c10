package audit

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/google/uuid"
)

// The event types of the domain vocabulary.
const (
	TypeOperationRequested = "OperationRequested"
	TypeOperationStarted   = "OperationStarted"
	TypeStepStarted        = "StepStarted"
	TypeStepCompleted      = "StepCompleted"
	TypeStepFailed         = "StepFailed"
	TypeOperationCompleted = "OperationCompleted"
	TypeOperationFailed    = "OperationFailed"
	TypeOperationCancelled = "OperationCancelled"
	TypeClusterCreated     = "ClusterCreated"
	TypeShardAdded         = "ShardAdded"
	TypeShardRemoved       = "ShardRemoved"
	TypeInstanceCreated    = "InstanceCreated"
	TypeInstanceDeleted    = "InstanceDeleted"
	TypeRoleChanged        = "RoleChanged"
	TypeSlotsAssigned      = "SlotsAssigned"
	TypeSlotsMigrated      = "SlotsMigrated"
	TypeReplicaAdded       = "ReplicaAdded"
	TypeReplicaRemoved     = "ReplicaRemoved"
	TypeImageChanged       = "ImageChanged"
	TypeHookRan            = "HookRan"
	TypePlanDiverged       = "PlanDiverged"
	TypeClusterDeleted     = "ClusterDeleted"
)

// Roles of an instance as the projections spell them.
const (
	RolePrimary = "primary"
	RoleReplica = "replica"
)

// Payload is the typed payload of one event type at its current schema version.
type Payload interface {
	EventType() string
	SchemaVersion() int
	ClusterName() string
}

// SlotRange is an inclusive range of hash slots, 0..16383 (the API's wire
// type: a projection's shard holds the ranges its events carry).
type SlotRange = apiv1.AuditSlotRange

// OperationRequested: someone asked for an operation (written by the API).
type OperationRequested struct {
	OperationID string          `json:"operation_id"`
	Cluster     string          `json:"cluster"`
	Kind        string          `json:"kind"` // create, scale-shards, scale-replicas, backup, restore, upgrade, switchover, recover, delete
	Params      json.RawMessage `json:"params,omitempty"`
	DryRun      bool            `json:"dry_run,omitempty"`
}

// OperationStarted: the operation's workflow began.
type OperationStarted struct {
	OperationID string `json:"operation_id"`
	Cluster     string `json:"cluster"`
	WorkflowID  string `json:"workflow_id,omitempty"`
	RunID       string `json:"run_id,omitempty"`
}

// StepStarted: one step (an activity, a wait, an approval) began.
type StepStarted struct {
	OperationID string `json:"operation_id"`
	Cluster     string `json:"cluster"`
	StepID      string `json:"step_id"` // stable within the operation, e.g. "migrate-slots/shard-2/range-3"
	Name        string `json:"name"`
	Target      string `json:"target,omitempty"` // e.g. "shard 2", "ordinal 5"
}

// StepCompleted: a step ended well.
type StepCompleted struct {
	OperationID string `json:"operation_id"`
	Cluster     string `json:"cluster"`
	StepID      string `json:"step_id"`
	Detail      string `json:"detail,omitempty"`
}

// StepFailed: a step ended badly (after its retries, or with a permanent error).
type StepFailed struct {
	OperationID string `json:"operation_id"`
	Cluster     string `json:"cluster"`
	StepID      string `json:"step_id"`
	Error       string `json:"error"`
	ErrorType   string `json:"error_type,omitempty"`
}

// OperationCompleted: the operation succeeded.
type OperationCompleted struct {
	OperationID string `json:"operation_id"`
	Cluster     string `json:"cluster"`
	Summary     string `json:"summary,omitempty"`
}

// OperationFailed: the operation failed (after any rollback).
type OperationFailed struct {
	OperationID string `json:"operation_id"`
	Cluster     string `json:"cluster"`
	Error       string `json:"error"`
	RolledBack  bool   `json:"rolled_back,omitempty"`
}

// OperationCancelled: the operation was cancelled or aborted by a person.
type OperationCancelled struct {
	OperationID string `json:"operation_id"`
	Cluster     string `json:"cluster"`
	Reason      string `json:"reason,omitempty"`
}

// ClusterCreated: a Redis cluster came into existence (before its instances).
type ClusterCreated struct {
	Cluster          string `json:"cluster"`
	RedisVersion     string `json:"redis_version"`
	Image            string `json:"image"`
	Shards           int    `json:"shards"`
	ReplicasPerShard int    `json:"replicas_per_shard"`
}

// ShardAdded: a shard (a primary and its replicas) was added.
type ShardAdded struct {
	Cluster string `json:"cluster"`
	Shard   int    `json:"shard"`
}

// ShardRemoved: a shard was removed (after its slots moved away).
type ShardRemoved struct {
	Cluster string `json:"cluster"`
	Shard   int    `json:"shard"`
}

// InstanceCreated: a pod plus volume with a stable ordinal was created.
type InstanceCreated struct {
	Cluster      string `json:"cluster"`
	Shard        int    `json:"shard"`
	Ordinal      int    `json:"ordinal"`
	Pod          string `json:"pod"`
	Zone         string `json:"zone,omitempty"`
	Role         string `json:"role"` // primary or replica
	Image        string `json:"image"`
	RedisVersion string `json:"redis_version"`
}

// InstanceDeleted: an instance was deleted.
type InstanceDeleted struct {
	Cluster string `json:"cluster"`
	Ordinal int    `json:"ordinal"`
}

// RoleChanged (schema version 2): an instance's live role changed (failover,
// switchover). Version 1 spelled roles the Redis way ("master", "slave");
// its upcaster maps them to "primary" and "replica".
type RoleChanged struct {
	Cluster      string `json:"cluster"`
	Ordinal      int    `json:"ordinal"`
	Role         string `json:"role"`
	PreviousRole string `json:"previous_role,omitempty"`
}

// SlotsAssigned: slots were given to a shard that had none of them (create).
type SlotsAssigned struct {
	Cluster string      `json:"cluster"`
	Shard   int         `json:"shard"`
	Slots   []SlotRange `json:"slots"`
}

// SlotsMigrated: slots moved from one shard to another.
type SlotsMigrated struct {
	Cluster   string      `json:"cluster"`
	FromShard int         `json:"from_shard"`
	ToShard   int         `json:"to_shard"`
	Slots     []SlotRange `json:"slots"`
}

// ReplicaAdded: an instance became an in-sync replica of a shard.
type ReplicaAdded struct {
	Cluster string `json:"cluster"`
	Shard   int    `json:"shard"`
	Ordinal int    `json:"ordinal"`
}

// ReplicaRemoved: a replica left its shard (the instance is deleted separately).
type ReplicaRemoved struct {
	Cluster string `json:"cluster"`
	Shard   int    `json:"shard"`
	Ordinal int    `json:"ordinal"`
}

// ImageChanged: an instance now runs another image / Redis version.
type ImageChanged struct {
	Cluster      string `json:"cluster"`
	Ordinal      int    `json:"ordinal"`
	Image        string `json:"image"`
	RedisVersion string `json:"redis_version"`
}

// HookRan: a user hook ran at a named point, with its outcome.
type HookRan struct {
	OperationID string `json:"operation_id"`
	Cluster     string `json:"cluster"`
	Hook        string `json:"hook"`
	Point       string `json:"point"` // pre-migrate, post-promote, pre-delete, ...
	Target      string `json:"target,omitempty"`
	Outcome     string `json:"outcome"` // succeeded, failed, timed_out
	Error       string `json:"error,omitempty"`
	DurationMS  int64  `json:"duration_ms,omitempty"`
	// Status, BodyBytes and BodySHA256 describe an HTTP hook's answer; its
	// body itself is never recorded.
	Status     int    `json:"status,omitempty"`
	BodyBytes  int64  `json:"body_bytes,omitempty"`
	BodySHA256 string `json:"body_sha256,omitempty"`
}

// PlanDiverged: before a step, the plan made from fresh state differed from
// the plan the API admitted (and showed). Structural differences (instances,
// shards, ordinals, placement, hooks) stop the operation; others (slot
// moves, wording) are recorded and the admitted plan runs.
type PlanDiverged struct {
	OperationID string   `json:"operation_id"`
	Cluster     string   `json:"cluster"`
	Step        string   `json:"step"`
	Fields      []string `json:"fields"`
	Structural  bool     `json:"structural,omitempty"`
	Admitted    string   `json:"admitted"` // the admitted plan's summary
	Fresh       string   `json:"fresh"`    // the fresh plan's summary
	Action      string   `json:"action"`   // "continue" or "stop"
}

// ClusterDeleted: the cluster and everything it owned are gone.
type ClusterDeleted struct {
	Cluster string `json:"cluster"`
}

// schemaVersions is the current schema version of every type.
var schemaVersions = map[string]int{
	TypeOperationRequested: 1, TypeOperationStarted: 1, TypeStepStarted: 1, TypeStepCompleted: 1,
	TypeStepFailed: 1, TypeOperationCompleted: 1, TypeOperationFailed: 1, TypeOperationCancelled: 1,
	TypeClusterCreated: 1, TypeShardAdded: 1, TypeShardRemoved: 1, TypeInstanceCreated: 1,
	TypeInstanceDeleted: 1, TypeRoleChanged: 2, TypeSlotsAssigned: 1, TypeSlotsMigrated: 1,
	TypeReplicaAdded: 1, TypeReplicaRemoved: 1, TypeImageChanged: 1, TypeHookRan: 1, TypeClusterDeleted: 1,
	TypePlanDiverged: 1,
}

// Types returns every event type of the vocabulary.
func Types() []string {
	out := make([]string, 0, len(schemaVersions))
	for t := range schemaVersions {
		out = append(out, t)
	}
	return out
}

func (OperationRequested) EventType() string { return TypeOperationRequested }
func (OperationStarted) EventType() string   { return TypeOperationStarted }
func (StepStarted) EventType() string        { return TypeStepStarted }
func (StepCompleted) EventType() string      { return TypeStepCompleted }
func (StepFailed) EventType() string         { return TypeStepFailed }
func (OperationCompleted) EventType() string { return TypeOperationCompleted }
func (OperationFailed) EventType() string    { return TypeOperationFailed }
func (OperationCancelled) EventType() string { return TypeOperationCancelled }
func (ClusterCreated) EventType() string     { return TypeClusterCreated }
func (ShardAdded) EventType() string         { return TypeShardAdded }
func (ShardRemoved) EventType() string       { return TypeShardRemoved }
func (InstanceCreated) EventType() string    { return TypeInstanceCreated }
func (InstanceDeleted) EventType() string    { return TypeInstanceDeleted }
func (RoleChanged) EventType() string        { return TypeRoleChanged }
func (SlotsAssigned) EventType() string      { return TypeSlotsAssigned }
func (SlotsMigrated) EventType() string      { return TypeSlotsMigrated }
func (ReplicaAdded) EventType() string       { return TypeReplicaAdded }
func (ReplicaRemoved) EventType() string     { return TypeReplicaRemoved }
func (ImageChanged) EventType() string       { return TypeImageChanged }
func (HookRan) EventType() string            { return TypeHookRan }
func (PlanDiverged) EventType() string       { return TypePlanDiverged }
func (ClusterDeleted) EventType() string     { return TypeClusterDeleted }

func (p OperationRequested) SchemaVersion() int { return schemaVersions[p.EventType()] }
func (p OperationStarted) SchemaVersion() int   { return schemaVersions[p.EventType()] }
func (p StepStarted) SchemaVersion() int        { return schemaVersions[p.EventType()] }
func (p StepCompleted) SchemaVersion() int      { return schemaVersions[p.EventType()] }
func (p StepFailed) SchemaVersion() int         { return schemaVersions[p.EventType()] }
func (p OperationCompleted) SchemaVersion() int { return schemaVersions[p.EventType()] }
func (p OperationFailed) SchemaVersion() int    { return schemaVersions[p.EventType()] }
func (p OperationCancelled) SchemaVersion() int { return schemaVersions[p.EventType()] }
func (p ClusterCreated) SchemaVersion() int     { return schemaVersions[p.EventType()] }
func (p ShardAdded) SchemaVersion() int         { return schemaVersions[p.EventType()] }
func (p ShardRemoved) SchemaVersion() int       { return schemaVersions[p.EventType()] }
func (p InstanceCreated) SchemaVersion() int    { return schemaVersions[p.EventType()] }
func (p InstanceDeleted) SchemaVersion() int    { return schemaVersions[p.EventType()] }
func (p RoleChanged) SchemaVersion() int        { return schemaVersions[p.EventType()] }
func (p SlotsAssigned) SchemaVersion() int      { return schemaVersions[p.EventType()] }
func (p SlotsMigrated) SchemaVersion() int      { return schemaVersions[p.EventType()] }
func (p ReplicaAdded) SchemaVersion() int       { return schemaVersions[p.EventType()] }
func (p ReplicaRemoved) SchemaVersion() int     { return schemaVersions[p.EventType()] }
func (p ImageChanged) SchemaVersion() int       { return schemaVersions[p.EventType()] }
func (p HookRan) SchemaVersion() int            { return schemaVersions[p.EventType()] }
func (p PlanDiverged) SchemaVersion() int       { return schemaVersions[p.EventType()] }
func (p ClusterDeleted) SchemaVersion() int     { return schemaVersions[p.EventType()] }

func (p OperationRequested) ClusterName() string { return p.Cluster }
func (p OperationStarted) ClusterName() string   { return p.Cluster }
func (p StepStarted) ClusterName() string        { return p.Cluster }
func (p StepCompleted) ClusterName() string      { return p.Cluster }
func (p StepFailed) ClusterName() string         { return p.Cluster }
func (p OperationCompleted) ClusterName() string { return p.Cluster }
func (p OperationFailed) ClusterName() string    { return p.Cluster }
func (p OperationCancelled) ClusterName() string { return p.Cluster }
func (p ClusterCreated) ClusterName() string     { return p.Cluster }
func (p ShardAdded) ClusterName() string         { return p.Cluster }
func (p ShardRemoved) ClusterName() string       { return p.Cluster }
func (p InstanceCreated) ClusterName() string    { return p.Cluster }
func (p InstanceDeleted) ClusterName() string    { return p.Cluster }
func (p RoleChanged) ClusterName() string        { return p.Cluster }
func (p SlotsAssigned) ClusterName() string      { return p.Cluster }
func (p SlotsMigrated) ClusterName() string      { return p.Cluster }
func (p ReplicaAdded) ClusterName() string       { return p.Cluster }
func (p ReplicaRemoved) ClusterName() string     { return p.Cluster }
func (p ImageChanged) ClusterName() string       { return p.Cluster }
func (p HookRan) ClusterName() string            { return p.Cluster }
func (p PlanDiverged) ClusterName() string       { return p.Cluster }
func (p ClusterDeleted) ClusterName() string     { return p.Cluster }

func newPayload(eventType string) Payload {
	switch eventType {
	case TypeOperationRequested:
		return &OperationRequested{}
	case TypeOperationStarted:
		return &OperationStarted{}
	case TypeStepStarted:
		return &StepStarted{}
	case TypeStepCompleted:
		return &StepCompleted{}
	case TypeStepFailed:
		return &StepFailed{}
	case TypeOperationCompleted:
		return &OperationCompleted{}
	case TypeOperationFailed:
		return &OperationFailed{}
	case TypeOperationCancelled:
		return &OperationCancelled{}
	case TypeClusterCreated:
		return &ClusterCreated{}
	case TypeShardAdded:
		return &ShardAdded{}
	case TypeShardRemoved:
		return &ShardRemoved{}
	case TypeInstanceCreated:
		return &InstanceCreated{}
	case TypeInstanceDeleted:
		return &InstanceDeleted{}
	case TypeRoleChanged:
		return &RoleChanged{}
	case TypeSlotsAssigned:
		return &SlotsAssigned{}
	case TypeSlotsMigrated:
		return &SlotsMigrated{}
	case TypeReplicaAdded:
		return &ReplicaAdded{}
	case TypeReplicaRemoved:
		return &ReplicaRemoved{}
	case TypeImageChanged:
		return &ImageChanged{}
	case TypeHookRan:
		return &HookRan{}
	case TypePlanDiverged:
		return &PlanDiverged{}
	case TypeClusterDeleted:
		return &ClusterDeleted{}
	}
	if p := newRequestPayload(eventType); p != nil {
		return p
	}
	return newSelfHealPayload(eventType)
}

// Errors of Decode.
var (
	ErrUnknownEventType = errors.New("unknown event type")
	ErrSchemaVersion    = errors.New("unsupported schema version")
	ErrBadPayload       = errors.New("bad payload")
)

// Decode returns the typed payload of an event read from the store (whose
// upcasters, see Upcasters, have already run). An event type outside the
// vocabulary is ErrUnknownEventType (projections skip those); a version the
// code does not know is ErrSchemaVersion; a payload that does not decode is
// ErrBadPayload. The result is a pointer to one of the payload structs.
func Decode(eventType string, schemaVersion int, payload []byte) (Payload, error) {
	p := newPayload(eventType)
	if p == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, eventType)
	}
	if want := schemaVersions[eventType]; schemaVersion != want {
		return nil, fmt.Errorf("%w: %s v%d (this dayops knows v%d)", ErrSchemaVersion, eventType, schemaVersion, want)
	}
	if err := json.Unmarshal(payload, p); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadPayload, eventType, err)
	}
	return p, nil
}

// NewEvent builds the EventData of a typed payload: type and schema version
// come from the payload, and metadata's Cluster is filled from it so that
// operation-stream events are found by cluster.
func NewEvent(id uuid.UUID, p Payload, md eventstore.Metadata) (eventstore.EventData, error) {
	if md.Cluster == "" {
		md.Cluster = p.ClusterName()
	}
	return eventstore.NewEventData(id, p.EventType(), p.SchemaVersion(), p, md)
}

// Stream returns the stream a payload belongs to: operation events (those
// with an operation ID) go to operation-<id>, the rest to cluster-<name>.
func Stream(p Payload) eventstore.StreamName {
	if r, ok := p.(interface{ request() APIRequest }); ok {
		return r.request().stream()
	}
	if op, ok := OperationOf(p); ok {
		return eventstore.OperationStream(op)
	}
	return eventstore.ClusterStream(p.ClusterName())
}

// OperationOf returns the ID of the operation a payload belongs to, if its
// type carries one (the projections fold those into timelines).
func OperationOf(p Payload) (string, bool) {
	if op, ok := p.(interface{ operation() string }); ok {
		return op.operation(), true
	}
	return "", false
}

func (p OperationRequested) operation() string { return p.OperationID }
func (p OperationStarted) operation() string   { return p.OperationID }
func (p StepStarted) operation() string        { return p.OperationID }
func (p StepCompleted) operation() string      { return p.OperationID }
func (p StepFailed) operation() string         { return p.OperationID }
func (p OperationCompleted) operation() string { return p.OperationID }
func (p OperationFailed) operation() string    { return p.OperationID }
func (p OperationCancelled) operation() string { return p.OperationID }
func (p HookRan) operation() string            { return p.OperationID }
func (p PlanDiverged) operation() string       { return p.OperationID }
