package projection

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
)

// The projection's states are the API's wire types (package apiv1): a
// replayed state is served as it is, and the tables store the same JSON.
type (
	// ClusterState is the current topology of one Redis cluster as the log
	// tells it; its shards' members are the instances with that Shard.
	ClusterState = apiv1.AuditClusterState
	// ShardState is one shard: its slots.
	ShardState = apiv1.AuditShardState
	// InstanceState is one instance (pod + volume) by its stable ordinal.
	InstanceState = apiv1.AuditInstanceState
	// OperationSummary is the last operation on a cluster and how it ended.
	OperationSummary = apiv1.AuditOperationSummary
	// Timeline is one operation with each step's start, end and outcome.
	Timeline = apiv1.AuditTimeline
	// StepState is one step of a timeline.
	StepState = apiv1.AuditStepState
	// HookState is one hook run of a timeline.
	HookState = apiv1.AuditHookState
)

// Operation statuses and step outcomes.
const (
	StatusRequested = apiv1.AuditStatusRequested
	StatusRunning   = apiv1.AuditStatusRunning
	StatusCompleted = apiv1.AuditStatusCompleted
	StatusFailed    = apiv1.AuditStatusFailed
	StatusCancelled = apiv1.AuditStatusCancelled
)

// Projection holds the cluster states and operation timelines built from a
// prefix of the log. It is a pure fold: Apply in position order; the same
// events give the same Projection.
type Projection struct {
	Clusters   map[string]*ClusterState `json:"clusters"`
	Operations map[string]*Timeline     `json:"operations"`
	Position   int64                    `json:"position"`
}

// NewProjection returns an empty projection.
func NewProjection() *Projection {
	return &Projection{Clusters: map[string]*ClusterState{}, Operations: map[string]*Timeline{}}
}

// Apply decodes one event and folds it in. Events of types outside the
// vocabulary are skipped (a newer writer may add types); a known type with a
// bad payload or an unknown schema version is an error.
func (p *Projection) Apply(e eventstore.Event) error {
	pl, err := audit.Decode(e.Type, e.SchemaVersion, e.Payload)
	if errors.Is(err, audit.ErrUnknownEventType) {
		p.Position = e.Position
		return nil
	}
	if err != nil {
		return fmt.Errorf("event at position %d: %w", e.Position, err)
	}
	p.ApplyPayload(e, pl)
	return nil
}

func (p *Projection) cluster(name string, at time.Time) *ClusterState {
	c := entry(p.Clusters, name, func() *ClusterState { return &ClusterState{Name: name} })
	// A new state gets its maps here, and so does one decoded from JSON that
	// had none (they are omitempty).
	if c.Shards == nil {
		c.Shards = map[int]*ShardState{}
	}
	if c.Instances == nil {
		c.Instances = map[int]*InstanceState{}
	}
	c.UpdatedAt = at
	return c
}

func (p *Projection) operation(id, cluster string) *Timeline {
	return entry(p.Operations, id, func() *Timeline {
		return &Timeline{OperationID: id, Cluster: cluster, Status: StatusRequested}
	})
}

func step(t *Timeline, id string) *StepState {
	for i := len(t.Steps) - 1; i >= 0; i-- {
		if t.Steps[i].ID == id {
			return &t.Steps[i]
		}
	}
	t.Steps = append(t.Steps, StepState{ID: id, Outcome: StatusRunning})
	return &t.Steps[len(t.Steps)-1]
}

func shard(c *ClusterState, id int) *ShardState {
	return entry(c.Shards, id, func() *ShardState { return &ShardState{ID: id} })
}

func instance(c *ClusterState, ordinal int) *InstanceState {
	return entry(c.Instances, ordinal, func() *InstanceState { return &InstanceState{Ordinal: ordinal} })
}

// entry returns m[k], storing fresh() there first when m has none: a
// cluster, operation, shard or instance comes into the projection with the
// first event that names it.
func entry[K comparable, V any](m map[K]*V, k K, fresh func() *V) *V {
	v := m[k]
	if v == nil {
		v = fresh()
		m[k] = v
	}
	return v
}

// setLast records the operation's state as the cluster's last operation.
func (p *Projection) setLast(t *Timeline, e eventstore.Event) {
	if t.Cluster == "" {
		return
	}
	c := p.cluster(t.Cluster, e.RecordedAt)
	c.LastOperation = &OperationSummary{ID: t.OperationID, Kind: t.Kind, Status: t.Status, Error: t.Error, Actor: t.Actor, At: e.RecordedAt}
	c.Position = e.Position
}

// ApplyPayload folds an already decoded payload of e.
func (p *Projection) ApplyPayload(e eventstore.Event, pl audit.Payload) {
	p.Position = e.Position
	if !p.applyOperation(e, pl) {
		p.applyCluster(e, pl)
	}
}

// applyOperation folds the events of an operation's timeline; it returns
// false for any other payload.
func (p *Projection) applyOperation(e eventstore.Event, pl audit.Payload) bool {
	change, last := timelineChange(e, pl)
	if change == nil {
		return false
	}
	op, _ := audit.OperationOf(pl)
	t := p.operation(op, pl.ClusterName())
	change(t)
	t.Position = e.Position
	if last {
		p.setLast(t, e)
	}
	return true
}

// timelineChange is what pl does to its operation's timeline (nil: pl is
// not a timeline event); last says whether the change is also the cluster's
// last operation.
func timelineChange(e eventstore.Event, pl audit.Payload) (change func(*Timeline), last bool) {
	at := e.RecordedAt
	switch v := pl.(type) {
	case *audit.OperationRequested:
		return func(t *Timeline) {
			t.Kind, t.Status, t.RequestedAt = v.Kind, StatusRequested, at
			t.Actor, t.Reason = e.Metadata.Actor, e.Metadata.Reason
		}, true
	case *audit.OperationStarted:
		return func(t *Timeline) { t.Status, t.StartedAt = StatusRunning, at }, true
	case *audit.StepStarted:
		return func(t *Timeline) {
			s := step(t, v.StepID)
			s.Name, s.Target, s.Start, s.Outcome = v.Name, v.Target, at, StatusRunning
		}, false
	case *audit.StepCompleted:
		return func(t *Timeline) {
			s := step(t, v.StepID)
			s.End, s.Outcome, s.Detail, s.Error = at, StatusCompleted, v.Detail, ""
		}, false
	case *audit.StepFailed:
		return func(t *Timeline) {
			s := step(t, v.StepID)
			s.End, s.Outcome, s.Error = at, StatusFailed, v.Error
		}, false
	case *audit.OperationCompleted:
		return func(t *Timeline) { t.Status, t.EndedAt, t.Error = StatusCompleted, at, "" }, true
	case *audit.OperationFailed:
		return func(t *Timeline) { t.Status, t.EndedAt, t.Error = StatusFailed, at, v.Error }, true
	case *audit.OperationCancelled:
		return func(t *Timeline) { t.Status, t.EndedAt, t.Error = StatusCancelled, at, v.Reason }, true
	case *audit.HookRan:
		return func(t *Timeline) {
			t.Hooks = append(t.Hooks, HookState{Hook: v.Hook, Point: v.Point, Target: v.Target, Outcome: v.Outcome,
				Error: v.Error, DurationMS: v.DurationMS, At: at})
		}, false
	}
	return nil, false
}

// applyCluster folds the events that change a cluster's topology.
func (p *Projection) applyCluster(e eventstore.Event, pl audit.Payload) {
	if change := clusterChange(pl, e.RecordedAt); change != nil {
		c := p.cluster(pl.ClusterName(), e.RecordedAt)
		change(c)
		c.Position = e.Position
	}
}

// clusterChange is what pl does to its cluster's state (nil: nothing).
func clusterChange(pl audit.Payload, at time.Time) func(*ClusterState) {
	switch v := pl.(type) {
	case *audit.ClusterCreated:
		return func(c *ClusterState) {
			c.Deleted, c.RedisVersion, c.Image, c.CreatedAt = false, v.RedisVersion, v.Image, at
		}
	case *audit.ShardAdded:
		return func(c *ClusterState) { shard(c, v.Shard) }
	case *audit.ShardRemoved:
		return func(c *ClusterState) { delete(c.Shards, v.Shard) }
	case *audit.InstanceCreated:
		return func(c *ClusterState) {
			shard(c, v.Shard)
			c.Instances[v.Ordinal] = &InstanceState{Ordinal: v.Ordinal, Shard: v.Shard, Pod: v.Pod, Zone: v.Zone,
				Role: v.Role, Image: v.Image, RedisVersion: v.RedisVersion, CreatedAt: at}
		}
	case *audit.InstanceDeleted:
		return func(c *ClusterState) { delete(c.Instances, v.Ordinal) }
	case *audit.RoleChanged:
		return func(c *ClusterState) { instance(c, v.Ordinal).Role = v.Role }
	case *audit.SlotsAssigned:
		return func(c *ClusterState) { giveSlots(c, v.Shard, v.Slots) }
	case *audit.SlotsMigrated:
		return func(c *ClusterState) {
			shard(c, v.FromShard)
			giveSlots(c, v.ToShard, v.Slots)
		}
	case *audit.ReplicaAdded:
		return func(c *ClusterState) {
			in := instance(c, v.Ordinal)
			in.Shard, in.Role = v.Shard, audit.RoleReplica
		}
	case *audit.ReplicaRemoved:
		return func(c *ClusterState) {
			if in := c.Instances[v.Ordinal]; in != nil && in.Shard == v.Shard {
				in.Role = ""
			}
		}
	case *audit.ImageChanged:
		return func(c *ClusterState) {
			in := instance(c, v.Ordinal)
			in.Image, in.RedisVersion = v.Image, v.RedisVersion
		}
	case *audit.InstanceLost:
		return func(c *ClusterState) {
			if in := c.Instances[v.Ordinal]; in != nil {
				in.LostReason = cmp.Or(v.Reason, "lost")
			}
		}
	case *audit.InstanceRecovered:
		return func(c *ClusterState) {
			if in := c.Instances[v.Ordinal]; in != nil {
				in.LostReason, in.Zone = "", cmp.Or(v.Zone, in.Zone)
			}
		}
	case *audit.ClusterDeleted:
		return func(c *ClusterState) {
			c.Deleted = true
			c.Shards, c.Instances = map[int]*ShardState{}, map[int]*InstanceState{}
		}
	}
	return nil
}

// giveSlots makes shard `to` the owner of slots: a slot belongs to exactly one
// shard, so they leave whichever shard had them (the migration's source,
// normally).
func giveSlots(c *ClusterState, to int, slots []audit.SlotRange) {
	for id, s := range c.Shards {
		if id != to && len(s.Slots) > 0 {
			s.Slots = removeSlots(s.Slots, slots)
		}
	}
	sh := shard(c, to)
	sh.Slots = addSlots(sh.Slots, slots)
}
