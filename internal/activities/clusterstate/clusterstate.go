// Package clusterstate observes a cluster as the planner needs it: the spec
// and instances Kubernetes holds, joined with what every Redis node says of
// itself (node IDs, live roles, slots, memory, sync, health).
//
// Contract: read-only and idempotent. The API's admission guard and dry-run
// call Observe directly; workflows call it as the ObserveCluster activity, so
// both plan from the same observation code.
package clusterstate

import (
	"context"
	"fmt"
	"slices"

	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"go.temporal.io/sdk/temporal"
)

// ErrTypeNotFound is the error type for a cluster that does not exist.
const ErrTypeNotFound = "ClusterNotFound"

// Activities observe clusters.
type Activities struct {
	Kube  *kube.Activities
	Redis *redisops.Activities
}

// ObserveInput names a cluster.
type ObserveInput struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	// ScanBigKeysOfShards measures every key of these shards' primaries (for
	// scale-in's big-key guard).
	ScanBigKeysOfShards []int `json:"scanBigKeysOfShards,omitempty"`
	// ScanKeyBudget bounds that scan per primary (redisops.ObserveInput).
	ScanKeyBudget int64 `json:"scanKeyBudget,omitempty"`
	// Shards, when set, limits the answer to these shards' instances: Redis
	// is asked only about them (each must still know every instance of the
	// cluster) and the result (State, Kube, Redis) holds only them, so an
	// operation that works shard by shard keeps an observation of constant
	// size per step in its history instead of one that grows with the
	// cluster. State.Health then covers these shards only.
	Shards []int `json:"shards,omitempty"`
	// SkipOpenSlots leaves out the open-slot check (redisops.ObserveInput).
	SkipOpenSlots bool `json:"skipOpenSlots,omitempty"`
}

// StepTarget names the cluster in audit step events.
func (in ObserveInput) StepTarget() string { return in.Namespace + "/" + in.Cluster }

// ObserveResult is the planner's state plus the raw observations.
type ObserveResult struct {
	State planner.State          `json:"state"`
	Kube  []kube.InstanceStatus  `json:"kube"`
	Redis redisops.ObserveResult `json:"redis"`
}

// ObserveCluster observes the cluster. A cluster without a spec in
// Kubernetes is a non-retryable ClusterNotFound error.
func (a *Activities) ObserveCluster(ctx context.Context, in ObserveInput) (ObserveResult, error) {
	k, err := a.Kube.Observe(ctx, kube.ObserveInput{Namespace: in.Namespace, Cluster: in.Cluster})
	if err != nil {
		return ObserveResult{}, err
	}
	if k.Spec == nil {
		return ObserveResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("cluster %s/%s does not exist", in.Namespace, in.Cluster), ErrTypeNotFound, nil)
	}
	zones, err := a.Kube.ListZones(ctx, kube.ListZonesInput{ZoneKey: k.Spec.Zones.Key})
	if err != nil {
		return ObserveResult{}, err
	}
	instances := 0 // that Redis can be asked about: each must know them all
	for _, s := range k.Instances {
		if s.Addr() != "" {
			instances++
		}
	}
	if in.Shards != nil {
		k.Instances = slices.DeleteFunc(k.Instances, func(s kube.InstanceStatus) bool { return !slices.Contains(in.Shards, s.Shard) })
	}
	var addrs, scan []string
	for _, s := range k.Instances {
		if s.Addr() == "" {
			continue
		}
		addrs = append(addrs, s.Addr())
		if s.Role == topology.RolePrimary && slices.Contains(in.ScanBigKeysOfShards, s.Shard) {
			scan = append(scan, s.Addr())
		}
	}
	r, err := a.Redis.ObserveRedis(ctx, redisops.ObserveInput{
		Auth:  redisops.Auth{Namespace: in.Namespace, Secret: render.PasswordSecretName(*k.Spec)},
		Addrs: addrs, ScanBigKeysOn: scan, ScanKeyBudget: in.ScanKeyBudget, Instances: instances, SkipOpenSlots: in.SkipOpenSlots,
	})
	if err != nil {
		return ObserveResult{}, err
	}
	return ObserveResult{State: Join(*k.Spec, k.Instances, k.NextOrdinal, zones.Zones, r), Kube: k.Instances, Redis: r}, nil
}

// Join builds the planner's state from the two observations. Redis is the
// truth for roles and slots; Kubernetes for ordinals, shards and zones. An
// instance Redis cannot be asked about makes the cluster unhealthy.
func Join(c spec.Cluster, pods []kube.InstanceStatus, nextOrdinal int, zones []string, r redisops.ObserveResult) planner.State {
	st := planner.State{
		Spec: c, Slots: map[int]topology.Ranges{}, Zones: zones, NextOrdinal: nextOrdinal,
		Health: planner.Health{ClusterStateOK: r.StateOK, AllConnected: r.AllConnected, OpenSlots: r.OpenSlots, Problems: r.Problems},
	}
	byAddr := map[string]redisops.NodeState{}
	for _, n := range r.Nodes {
		byAddr[n.Addr] = n
	}
	for _, p := range pods {
		in := planner.Instance{
			Instance: topology.Instance{Ordinal: p.Ordinal, Shard: p.Shard, Addr: p.Addr(), Zone: p.Zone, Role: p.Role, NodeID: p.NodeID},
			Pod:      p.Pod, Ready: p.Ready, Image: p.Image,
		}
		n, ok := byAddr[p.Addr()]
		switch {
		case p.Addr() == "" || !ok || !n.Reachable:
			st.Health.AllConnected = false
			st.Health.Problems = append(st.Health.Problems, fmt.Sprintf("instance %s is not reachable", p.Pod))
		default:
			in.NodeID, in.Role = n.NodeID, n.Role
			in.UsedMemory, in.MaxMemory, in.Keys = n.UsedMemory, n.MaxMemory, n.Keys
			in.BiggestKey, in.BiggestKeyBytes = n.BiggestKey, n.BiggestKeyBytes
			in.InSync = slices.Contains(r.InSync, n.Addr)
			if n.Role == topology.RolePrimary && n.Slots.Count() > 0 {
				st.Slots[p.Shard] = append(st.Slots[p.Shard], n.Slots...).Normalize()
			}
		}
		if p.Deleting {
			st.Health.Problems = append(st.Health.Problems, fmt.Sprintf("instance %s is being deleted", p.Pod))
		}
		st.Instances = append(st.Instances, in)
	}
	return st
}

// KubeState is the planner's state of a cluster from Kubernetes alone (no
// Redis: a delete must work on a cluster whose nodes are down). The Delete
// workflow and the API's admission both plan from it.
func KubeState(obs kube.ObserveResult) planner.State {
	st := planner.State{NextOrdinal: obs.NextOrdinal}
	if obs.Spec != nil {
		st.Spec = *obs.Spec
	}
	for _, p := range obs.Instances {
		st.Instances = append(st.Instances, planner.Instance{Pod: p.Pod, Ready: p.Ready,
			Instance: topology.Instance{Ordinal: p.Ordinal, Shard: p.Shard, Role: p.Role, Addr: p.Addr(), Zone: p.Zone, NodeID: p.NodeID}})
	}
	return st
}
