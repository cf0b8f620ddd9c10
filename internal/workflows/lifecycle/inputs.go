package lifecycle

import (
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/workflows/flow"
)

// Inputs of the lifecycle workflows (part of recorded histories: add
// fields, never change their meaning).

// CreateClusterInput creates a new cluster from a validated, defaulted spec.
type CreateClusterInput struct {
	Meta flow.Meta    `json:"meta"`
	Spec spec.Cluster `json:"spec"`
	// Plan is the plan the API computed and showed (planner.PlanCreate).
	Plan planner.Plan `json:"plan"`
	// Limits are the limits the plan was admitted with (nil in inputs
	// recorded before they travelled).
	Limits *planner.Limits `json:"limits,omitempty"`
}

// AdmittedPlan is the plan the API admitted and showed, and Limits the
// limits it was made with (both nil in inputs recorded before they
// travelled: the workflow then plans itself with planner.DefaultLimits).
// The inputs embed it without a JSON tag, so that its fields stand at the
// top level of their JSON, where recorded histories have them.
type AdmittedPlan struct {
	Plan   *planner.Plan   `json:"plan,omitempty"`
	Limits *planner.Limits `json:"limits,omitempty"`
}

// ScaleShardsInput changes the number of shards, moving slots accordingly.
type ScaleShardsInput struct {
	Meta   flow.Meta `json:"meta"`
	Shards int       `json:"shards"`
	// Hooks are run in addition to the cluster spec's hooks.
	Hooks []spec.Hook `json:"hooks,omitempty"`
	// AllowSharedZones accepts placements where a primary shares a zone with
	// one of its replicas because there are too few zones.
	AllowSharedZones bool `json:"allowSharedZones,omitempty"`
	AdmittedPlan
}

// ScaleReplicasInput changes the number of replicas of every shard.
type ScaleReplicasInput struct {
	Meta             flow.Meta   `json:"meta"`
	ReplicasPerShard int         `json:"replicasPerShard"`
	Hooks            []spec.Hook `json:"hooks,omitempty"`
	AllowSharedZones bool        `json:"allowSharedZones,omitempty"`
	AdmittedPlan
}

// DeleteClusterInput deletes a cluster and everything it owns.
type DeleteClusterInput struct {
	Meta flow.Meta `json:"meta"`
	// DeleteVolumes also deletes the instances' PersistentVolumeClaims; by
	// default they are kept so the data can still be recovered.
	DeleteVolumes bool        `json:"deleteVolumes,omitempty"`
	Hooks         []spec.Hook `json:"hooks,omitempty"`
	AdmittedPlan
}
