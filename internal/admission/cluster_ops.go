package admission

import (
	"context"

	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/workflows"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func builtins() []Entry {
	return []Entry{createEntry(), scaleShardsEntry(), scaleReplicasEntry(), upgradeEntry(), deleteEntry(),
		backupEntry(), restoreEntry(), deleteBackupEntry(), recoverEntry(), switchoverEntry()}
}

// limitsPtr is how the limits travel in a workflow input: nil in inputs
// recorded before they did.
func limitsPtr(l planner.Limits) *planner.Limits { return &l }

func defaultHooks(r *Request) {
	for i := range r.Hooks {
		r.Hooks[i].Default()
	}
}

func createEntry() Entry {
	return Entry{
		Type: operation.Create,
		Validate: func(r *Request, lim planner.Limits) *Error {
			r.Spec.Default()
			r.Namespace, r.Cluster = r.Spec.Namespace, r.Spec.Name
			if errs := r.Spec.Validate(lim.Spec); len(errs) > 0 {
				return invalid("body.", errs)
			}
			return nil
		},
		Observe: func(ctx context.Context, src Sources, r *Request) (Live, *Error) {
			if err := checkReferences(ctx, src.Cluster, r.Spec); err != nil {
				return Live{}, err
			}
			return observeNew(ctx, src.Cluster, r.Spec.Namespace, r.Spec.Name, r.Spec.Zones.Key)
		},
		Plan: func(r *Request, l Live, lim planner.Limits) (planner.Plan, error) {
			return planner.PlanCreate(planner.CreateRequest{Spec: r.Spec, Zones: l.Zones}, lim)
		},
		Start: func(r *Request, _ Live, p planner.Plan, lim planner.Limits, m operation.Meta) Start {
			return Start{Workflow: workflows.CreateCluster, WorkflowID: workflows.WorkflowID(m.Namespace, m.Cluster),
				Input: workflows.CreateClusterInput{Meta: m, Spec: r.Spec, Plan: p, Limits: limitsPtr(lim)}}
		},
	}
}

// checkReferences refuses a spec whose namespace or passwordSecret does not
// exist (422 naming the field, before anything starts), when the Cluster
// source can tell (it implements spec.References).
func checkReferences(ctx context.Context, c Cluster, s spec.Cluster) *Error {
	refs, ok := c.(spec.References)
	if !ok {
		return nil
	}
	errs, err := spec.CheckReferences(ctx, refs, s)
	if err != nil {
		return unavailable("cannot read Kubernetes", err)
	}
	if len(errs) > 0 {
		return invalid("body.", errs)
	}
	return nil
}

// observeNew checks that a new cluster's name is free and lists the zones.
func observeNew(ctx context.Context, c Cluster, namespace, name, zoneKey string) (Live, *Error) {
	obs, err := c.Objects(ctx, namespace, name)
	if err != nil {
		return Live{}, unavailable("cannot read Kubernetes", err)
	}
	if obs.Exists {
		return Live{}, &Error{Kind: Conflict, Message: "the cluster's current state does not allow this operation",
			Errs: field.ErrorList{field.Duplicate(field.NewPath("name"), name)}, Prefix: "body."}
	}
	zones, err := c.Zones(ctx, zoneKey)
	if err != nil {
		return Live{}, unavailable("cannot list nodes", err)
	}
	return Live{Namespace: namespace, Cluster: name, Zones: zones}, nil
}

func scaleShardsEntry() Entry {
	return Entry{
		Type: operation.ScaleShards,
		Validate: func(r *Request, _ planner.Limits) *Error {
			defaultHooks(r)
			if r.Shards == 0 {
				return invalid("body.", field.ErrorList{field.Required(field.NewPath("shards"), "scale-shards needs the target number of shards")})
			}
			return nil
		},
		Observe: func(ctx context.Context, src Sources, r *Request) (Live, *Error) {
			obs, err := observe(ctx, src.Cluster, r.Namespace, r.Cluster, nil)
			if err == nil {
				// Scale-in: measure every key of the departing shards.
				if cur := obs.State.Shards(); r.Shards > 0 && r.Shards < len(cur) {
					obs, err = observe(ctx, src.Cluster, r.Namespace, r.Cluster, cur[r.Shards:])
				}
			}
			return Live{Namespace: r.Namespace, Cluster: r.Cluster, Observation: obs}, err
		},
		Plan: func(r *Request, l Live, lim planner.Limits) (planner.Plan, error) {
			return planner.PlanScaleShards(planner.ScaleShardsRequest{State: l.State, Shards: r.Shards, Hooks: r.Hooks, AllowSharedZones: r.AllowSharedZones}, lim)
		},
		Start: func(r *Request, _ Live, p planner.Plan, lim planner.Limits, m operation.Meta) Start {
			return Start{Workflow: workflows.ScaleShards, WorkflowID: workflows.WorkflowID(m.Namespace, m.Cluster),
				Input: workflows.ScaleShardsInput{Meta: m, Shards: r.Shards, Hooks: r.Hooks, AllowSharedZones: r.AllowSharedZones,
					AdmittedPlan: workflows.AdmittedPlan{Plan: &p, Limits: limitsPtr(lim)}}}
		},
	}
}

func scaleReplicasEntry() Entry {
	return Entry{
		Type: operation.ScaleReplicas,
		Validate: func(r *Request, _ planner.Limits) *Error {
			defaultHooks(r)
			if r.ReplicasPerShard == nil {
				return invalid("body.", field.ErrorList{field.Required(field.NewPath("replicasPerShard"), "scale-replicas needs the target replicas per shard")})
			}
			return nil
		},
		Observe: observeExisting,
		Plan: func(r *Request, l Live, lim planner.Limits) (planner.Plan, error) {
			return planner.PlanScaleReplicas(planner.ScaleReplicasRequest{State: l.State, ReplicasPerShard: *r.ReplicasPerShard,
				Hooks: r.Hooks, AllowSharedZones: r.AllowSharedZones}, lim)
		},
		Start: func(r *Request, _ Live, p planner.Plan, lim planner.Limits, m operation.Meta) Start {
			return Start{Workflow: workflows.ScaleReplicas, WorkflowID: workflows.WorkflowID(m.Namespace, m.Cluster),
				Input: workflows.ScaleReplicasInput{Meta: m, ReplicasPerShard: *r.ReplicasPerShard, Hooks: r.Hooks,
					AllowSharedZones: r.AllowSharedZones, AdmittedPlan: workflows.AdmittedPlan{Plan: &p, Limits: limitsPtr(lim)}}}
		},
	}
}

// observeExisting reads an existing cluster from Kubernetes and Redis.
func observeExisting(ctx context.Context, src Sources, r *Request) (Live, *Error) {
	obs, err := observe(ctx, src.Cluster, r.Namespace, r.Cluster, nil)
	return Live{Namespace: r.Namespace, Cluster: r.Cluster, Observation: obs}, err
}

// observeObjects reads an existing cluster from Kubernetes only, never
// Redis (delete and recover act on clusters whose Redis is down): a read
// failure is Unavailable, a cluster of which nothing is there NotFound.
func observeObjects(ctx context.Context, src Sources, r *Request) (Live, *Error) {
	obs, err := src.Cluster.Objects(ctx, r.Namespace, r.Cluster)
	if err != nil {
		return Live{}, unavailable("cannot read Kubernetes", err)
	}
	if !obs.Exists {
		return Live{}, clusterNotFound(r.Namespace, r.Cluster)
	}
	return Live{Namespace: r.Namespace, Cluster: r.Cluster, Observation: obs}, nil
}

func upgradeEntry() Entry {
	return Entry{
		Type: operation.Upgrade,
		Validate: func(r *Request, _ planner.Limits) *Error {
			defaultHooks(r)
			r.Upgrade.Default()
			if errs := r.Upgrade.Validate(); len(errs) > 0 {
				return invalid("body.", errs)
			}
			return nil
		},
		Observe: func(ctx context.Context, src Sources, r *Request) (Live, *Error) {
			l, err := observeExisting(ctx, src, r)
			if err == nil {
				l.TargetHash = src.Cluster.SpecHash(r.Upgrade.Apply(l.State.Spec))
			}
			return l, err
		},
		Plan: func(r *Request, l Live, lim planner.Limits) (planner.Plan, error) {
			p, _, err := planner.PlanUpgrade(planner.UpgradeRequest{State: l.State, Upgrade: r.Upgrade, Hooks: r.Hooks,
				UpToDate: planner.UpToDate(l.SpecHashes, l.TargetHash)}, lim)
			return p, err
		},
		Start: func(r *Request, _ Live, p planner.Plan, lim planner.Limits, m operation.Meta) Start {
			return Start{Workflow: workflows.Upgrade, WorkflowID: workflows.WorkflowID(m.Namespace, m.Cluster),
				Input: workflows.UpgradeInput{Meta: m, Upgrade: r.Upgrade, Hooks: r.Hooks, Plan: &p, Limits: limitsPtr(lim)}}
		},
	}
}

func deleteEntry() Entry {
	return Entry{
		Type: operation.Delete,
		Validate: func(r *Request, _ planner.Limits) *Error {
			defaultHooks(r)
			if errs := spec.ValidateName(field.NewPath("name"), r.Cluster); len(errs) > 0 {
				return invalid("path.", errs)
			}
			return nil
		},
		Observe: func(ctx context.Context, src Sources, r *Request) (Live, *Error) {
			l, err := observeObjects(ctx, src, r)
			if err == nil && l.State.Spec.Name == "" {
				// The delete plan is made from the spec: instances
				// without one are not a cluster this can delete.
				return Live{}, clusterNotFound(r.Namespace, r.Cluster)
			}
			return l, err
		},
		Plan: func(r *Request, l Live, lim planner.Limits) (planner.Plan, error) {
			p, err := planner.PlanDelete(planner.DeleteRequest{State: l.State, DeleteVolumes: r.DeleteVolumes, Hooks: r.Hooks}, lim)
			return p, planErrorAt(err, "query.")
		},
		Start: func(r *Request, _ Live, p planner.Plan, lim planner.Limits, m operation.Meta) Start {
			return Start{Workflow: workflows.DeleteCluster, WorkflowID: workflows.WorkflowID(m.Namespace, m.Cluster),
				Input: workflows.DeleteClusterInput{Meta: m, DeleteVolumes: r.DeleteVolumes, Hooks: r.Hooks,
					AdmittedPlan: workflows.AdmittedPlan{Plan: &p, Limits: limitsPtr(lim)}}}
		},
	}
}
