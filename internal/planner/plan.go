package planner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Placement says how a plan uses zones.
type Placement struct {
	// RequireDistinctZones: the instances of one shard must land in distinct
	// zones (required pod anti-affinity).
	RequireDistinctZones bool     `json:"requireDistinctZones"`
	Zones                []string `json:"zones"`
	// Warning says why the zone rule cannot hold, when the request accepted that.
	Warning string `json:"warning,omitempty"`
}

// ShardMove is one contiguous slot range that moves between shards.
type ShardMove struct {
	From  int                `json:"from"`
	To    int                `json:"to"`
	Range topology.SlotRange `json:"range"`
}

func (m ShardMove) String() string {
	return fmt.Sprintf("migrate slots %s from shard-%d to shard-%d", m.Range, m.From, m.To)
}

// HookRun is one run of a hook at its point for one target.
type HookRun struct {
	Point spec.HookPoint `json:"point"`
	Hook  string         `json:"hook"`
	Scope spec.HookScope `json:"scope"`
	// Shard and Ordinal are -1 when the scope does not name them.
	Shard   int `json:"shard"`
	Ordinal int `json:"ordinal"`
}

// Plan is what an operation will do, in order.
type Plan struct {
	Operation string `json:"operation"`
	// Summary is one line, e.g. "scale-shards orders 3 -> 4: 4096 slots move".
	Summary string `json:"summary"`
	// Steps are human-readable, in execution order.
	Steps     []string  `json:"steps"`
	Placement Placement `json:"placement"`
	// CreateInstances and DeleteInstances carry ordinal, shard and role.
	CreateInstances []topology.Instance `json:"createInstances,omitempty"`
	DeleteInstances []topology.Instance `json:"deleteInstances,omitempty"`
	NewShards       []int               `json:"newShards,omitempty"`
	RemoveShards    []int               `json:"removeShards,omitempty"`
	// Assign is the initial slot ownership of a new cluster, per shard.
	Assign map[int]topology.Ranges `json:"assign,omitempty"`
	// Moves are the slot ranges that change shard, in execution order.
	Moves      []ShardMove `json:"moves,omitempty"`
	SlotsMoved int         `json:"slotsMoved"`
	// Hooks lists every hook run, in the order of their points.
	Hooks []HookRun `json:"hooks,omitempty"`
	// DeleteVolumes is true when a delete also removes the data volumes.
	DeleteVolumes bool `json:"deleteVolumes,omitempty"`
	// NextOrdinal is the lowest never-used ordinal after the plan.
	NextOrdinal int `json:"nextOrdinal"`
}

// Rejection explains why a request cannot be planned.
type Rejection struct {
	// Conflict is true when live state, not the request, is the reason.
	Conflict bool
	Errs     field.ErrorList
}

func (r *Rejection) Error() string {
	msgs := make([]string, len(r.Errs))
	for i, e := range r.Errs {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Limits for planning.
type Limits struct {
	Spec spec.Limits
	// MaxKeyBytes is the largest key a migration may move (default 512 MiB).
	MaxKeyBytes int64
	// HeadroomFactor is the free memory the remaining primaries must have, as
	// a multiple of the departing shards' used memory (default 1.5).
	HeadroomFactor float64
}

// DefaultLimits are the planner's defaults.
var DefaultLimits = Limits{Spec: spec.DefaultLimits, MaxKeyBytes: 512 << 20, HeadroomFactor: 1.5}

// placement checks that instancesPerShard instances can keep the zone rule.
func placement(p *field.Path, zones []string, instancesPerShard int, allowShared bool) (Placement, *field.Error) {
	pl := Placement{Zones: zones}
	if len(zones) >= instancesPerShard {
		pl.RequireDistinctZones = true
		return pl, nil
	}
	msg := fmt.Sprintf("each shard needs %d zones to keep a primary and its replicas apart, but only %d have ready nodes (%s)",
		instancesPerShard, len(zones), strings.Join(zones, ", "))
	if !allowShared {
		return pl, field.Invalid(p, false, msg+"; set allowSharedZones to accept shared zones")
	}
	pl.Warning = msg + ": accepted, instances of a shard may share a zone"
	return pl, nil
}

// hookRuns expands hooks at point for the given targets. shards and replicas
// list the shard numbers and the (ordinal, shard) of replicas the step touches.
func hookRuns(hooks []spec.Hook, point spec.HookPoint, shards []int, replicas []topology.Instance) []HookRun {
	var out []HookRun
	for _, h := range hooks {
		if h.Point != point {
			continue
		}
		switch h.Scope {
		case spec.ScopeCluster:
			out = append(out, HookRun{Point: point, Hook: h.Name, Scope: h.Scope, Shard: -1, Ordinal: -1})
		case spec.ScopeShard:
			for _, s := range shards {
				out = append(out, HookRun{Point: point, Hook: h.Name, Scope: h.Scope, Shard: s, Ordinal: -1})
			}
		case spec.ScopeReplica:
			for _, r := range replicas {
				out = append(out, HookRun{Point: point, Hook: h.Name, Scope: h.Scope, Shard: r.Shard, Ordinal: r.Ordinal})
			}
		}
	}
	return out
}

// execBeforePods rejects exec hooks at points where their pods do not exist
// (yet, or any more).
func execBeforePods(p *field.Path, hooks []spec.Hook, points ...spec.HookPoint) field.ErrorList {
	var errs field.ErrorList
	for i, h := range hooks {
		if h.Exec != nil && slices.Contains(points, h.Point) {
			errs = append(errs, field.Invalid(p.Index(i).Child("exec"), h.Name,
				fmt.Sprintf("an exec hook cannot run at %s: its pods do not exist then; use an http hook", h.Point)))
		}
	}
	return errs
}

// admitScale ends the admission of a scale request whose own fields gave
// errs: the request's hooks must be well formed, with no exec hook at the
// points of noExecAt (its pods do not exist then), and the cluster healthy.
// It returns nil when the request may be planned.
func admitScale(st State, errs field.ErrorList, hooks []spec.Hook, lim Limits, noExecAt ...spec.HookPoint) *Rejection {
	p := field.NewPath("hooks")
	errs = append(errs, spec.ValidateHooks(p, hooks, lim.Spec)...)
	errs = append(errs, execBeforePods(p, hooks, noExecAt...)...)
	if len(errs) > 0 {
		return &Rejection{Errs: errs}
	}
	return healthRejection(st.Health, st.Spec.Name)
}

func shardKey(s int) string { return fmt.Sprintf("shard-%06d", s) }

func keyShard(k string) int {
	var s int
	fmt.Sscanf(k, "shard-%d", &s)
	return s
}

func shardMoves(p topology.Plan) []ShardMove {
	out := make([]ShardMove, len(p.Moves))
	for i, m := range p.Moves {
		out[i] = ShardMove{From: keyShard(m.From), To: keyShard(m.To), Range: m.Range}
	}
	return out
}

func replicasOf(instances []topology.Instance) []topology.Instance {
	var out []topology.Instance
	for _, in := range instances {
		if in.Role == topology.RoleReplica {
			out = append(out, in)
		}
	}
	return out
}

func shardsOf(instances []topology.Instance) []int {
	var out []int
	for _, in := range instances {
		if !slices.Contains(out, in.Shard) {
			out = append(out, in.Shard)
		}
	}
	slices.Sort(out)
	return out
}

// healthRejection refuses an operation that needs the whole cluster; the
// last reason names the way out (recover, switchover, backup and delete are
// admitted on a degraded cluster).
func healthRejection(h Health, name string) *Rejection {
	if h.Healthy() {
		return nil
	}
	p := field.NewPath("cluster")
	var errs field.ErrorList
	if !h.ClusterStateOK {
		errs = append(errs, field.Forbidden(p.Child("state"), "cluster_state is not ok on every node"))
	}
	if !h.AllConnected {
		errs = append(errs, field.Forbidden(p.Child("nodes"), "not every node is connected"))
	}
	if len(h.OpenSlots) > 0 {
		errs = append(errs, field.Forbidden(p.Child("slots"),
			fmt.Sprintf("slots %s are open (migrating or importing)", topology.RangesOf(h.OpenSlots))))
	}
	for _, pr := range h.Problems {
		errs = append(errs, field.Forbidden(p, pr))
	}
	if len(errs) > 0 {
		errs[0].Detail += fmt.Sprintf(": the cluster is degraded; repair it first with `dayops cluster recover %s` "+
			"(recover, switchover, backup and delete run on a degraded cluster)", name)
	}
	return &Rejection{Conflict: true, Errs: errs}
}
