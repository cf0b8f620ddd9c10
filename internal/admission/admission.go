package admission

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Observation is what admission knows of a cluster.
type Observation struct {
	// Exists is false when Kubernetes holds neither a spec nor an instance
	// of the cluster.
	Exists bool
	State  planner.State
	// Nodes is the Kubernetes node of each instance, by ordinal.
	Nodes map[int]string
	// SpecHashes is the instance spec hash each Pod carries, by ordinal.
	SpecHashes map[int]string
}

// Cluster reads a cluster's live state. The server wires an adapter over the
// Kubernetes and Redis clients; tests pass a scripted one.
type Cluster interface {
	// Observe reads Kubernetes and Redis. A cluster without a spec is an
	// error wrapping ErrNotFound. scanBigKeysOf measures every key of these
	// shards' primaries (scale-in's big-key guard).
	Observe(ctx context.Context, namespace, name string, scanBigKeysOf []int) (Observation, error)
	// Objects reads Kubernetes only (a cluster whose Redis is down can still
	// be deleted); Exists says whether anything of the cluster is there.
	Objects(ctx context.Context, namespace, name string) (Observation, error)
	// Zones lists the zones with Ready, schedulable nodes.
	Zones(ctx context.Context, zoneKey string) ([]string, error)
	// SpecHash is the instance spec hash the Pods of c carry.
	SpecHash(c spec.Cluster) string
}

// ErrNotFound is wrapped by Cluster.Observe for a cluster that does not exist.
var ErrNotFound = fmt.Errorf("cluster not found")

// Request is every field an operation request may carry; each entry reads
// the ones of its type.
type Request struct {
	Type operation.Type
	// Namespace and Cluster name the cluster the operation acts on (for
	// create and restore: the new one, taken from Spec and Restore).
	Namespace, Cluster string
	// Spec is the new cluster (create).
	Spec spec.Cluster
	// Shards and ReplicasPerShard are the targets of the scale operations.
	Shards           int
	ReplicasPerShard *int
	// Hooks run in addition to the cluster's.
	Hooks            []spec.Hook
	AllowSharedZones bool
	Upgrade          spec.Upgrade
	DeleteVolumes    bool
	Backup           BackupOptions
	Restore          RestoreOptions
	// BackupID names the backup of a delete-backup.
	BackupID string
	// Switchover is a switchover's shard and target.
	Switchover SwitchoverOptions
}

// BackupOptions are a backup request's fields.
type BackupOptions struct {
	PauseBound time.Duration
	KeepLast   int
	KeepWithin time.Duration
}

// RestoreOptions are a restore request's fields.
type RestoreOptions struct {
	Backup           string
	Name             string
	Namespace        string
	Shards           int
	ReplicasPerShard *int
	Compare          string
	Sample           int
}

// Live is what an entry's Observe found: the cluster's state and whatever
// else its plan needs.
type Live struct {
	// Namespace and Cluster are the operation's cluster, once known.
	Namespace, Cluster string
	Observation
	// Zones with Ready nodes (create, restore).
	Zones []string
	// Spec is the new cluster's spec (restore).
	Spec spec.Cluster
	// Manifest is the backup read (restore, delete-backup).
	Manifest backupstore.Manifest
	// TargetHash is the instance spec hash of the upgrade's target.
	TargetHash string
	// Guardian is the guardian's view (recover); nil when none answered.
	Guardian *GuardianView
}

// Start is what the API starts: a workflow under an ID with its typed input.
type Start struct {
	Workflow   any
	WorkflowID string
	Input      any
}

// Entry is one operation type's admission.
type Entry struct {
	Type operation.Type
	// NeedsBackups refuses the request (Unavailable) without a backup store.
	NeedsBackups bool
	// Validate checks (and defaults) the request's own fields before
	// anything is read: its errors are Invalid.
	Validate func(r *Request, lim planner.Limits) *Error
	// Observe reads the live state the plan needs.
	Observe func(ctx context.Context, src Sources, r *Request) (Live, *Error)
	// Plan plans the request against the live state with the configured
	// limits; a planner.Rejection becomes Invalid or Conflict.
	Plan func(r *Request, l Live, lim planner.Limits) (planner.Plan, error)
	// Start names the workflow and builds its typed input, carrying the
	// admitted plan and the limits it was made with.
	Start func(r *Request, l Live, p planner.Plan, lim planner.Limits, m operation.Meta) Start
}

// Sources are what entries observe through.
type Sources struct {
	Cluster Cluster
	// Backups is nil when no backup store is configured.
	Backups backupstore.Store
	// Health is the guardian's view (recover); nil when none is wired.
	Health Health
	// Limits are the registry's (set by New).
	Limits planner.Limits
}

// Registry holds one entry per operation type.
type Registry struct {
	src     Sources
	limits  planner.Limits
	entries map[operation.Type]Entry
}

// New returns a registry with every built-in operation type.
func New(src Sources, lim planner.Limits) *Registry {
	if lim.Spec.MaxShards == 0 {
		lim = planner.DefaultLimits
	}
	src.Limits = lim
	r := &Registry{src: src, limits: lim, entries: map[operation.Type]Entry{}}
	for _, e := range builtins() {
		r.Add(e)
	}
	return r
}

// Add registers (or replaces) the entry of e.Type.
func (r *Registry) Add(e Entry) { r.entries[e.Type] = e }

// Limits are the limits plans are made with.
func (r *Registry) Limits() planner.Limits { return r.limits }

// Types lists the registered operation types, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.entries))
	for t := range r.entries {
		out = append(out, string(t))
	}
	sort.Strings(out)
	return out
}

// Admitted is an admitted request: its plan, and how to start it.
type Admitted struct {
	Type               operation.Type
	Namespace, Cluster string
	Plan               planner.Plan
	req                Request
	live               Live
	entry              Entry
	limits             planner.Limits
}

// Start returns the workflow, its ID and its typed input for meta m.
func (a Admitted) Start(m operation.Meta) Start {
	return a.entry.Start(&a.req, a.live, a.Plan, a.limits, m)
}

// Admit validates, observes and plans a request: the same path for a real
// request and a dry run.
func (r *Registry) Admit(ctx context.Context, req Request) (Admitted, error) {
	e, ok := r.entries[req.Type]
	if !ok {
		return Admitted{}, invalid("body.", field.ErrorList{field.NotSupported(field.NewPath("type"), req.Type, r.Types())})
	}
	if e.NeedsBackups && r.src.Backups == nil {
		return Admitted{}, &Error{Kind: Unavailable, Message: "no backup store is configured: set DAYOPS_BACKUP_STORE on the API and the worker"}
	}
	if e.Validate != nil {
		if err := e.Validate(&req, r.limits); err != nil {
			return Admitted{}, err
		}
	}
	live := Live{Namespace: req.Namespace, Cluster: req.Cluster}
	if e.Observe != nil {
		var oerr *Error
		if live, oerr = e.Observe(ctx, r.src, &req); oerr != nil {
			return Admitted{}, oerr
		}
	}
	plan, err := e.Plan(&req, live, r.limits)
	if err != nil {
		return Admitted{}, planError(err, "body.")
	}
	return Admitted{Type: req.Type, Namespace: live.Namespace, Cluster: live.Cluster, Plan: plan,
		req: req, live: live, entry: e, limits: r.limits}, nil
}
