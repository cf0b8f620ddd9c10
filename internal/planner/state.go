package planner

import (
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
)

// Instance is one observed instance.
type Instance struct {
	topology.Instance
	Pod   string `json:"pod"`
	Ready bool   `json:"ready"`
	// InSync is true for a replica whose link to its primary is up and whose
	// offset has caught up; always false for a primary.
	InSync bool `json:"inSync"`
	// UsedMemory and MaxMemory are bytes from INFO memory; MaxMemory is
	// maxmemory, or the machine's memory when maxmemory is 0.
	UsedMemory int64  `json:"usedMemory"`
	MaxMemory  int64  `json:"maxMemory"`
	Keys       int64  `json:"keys"`
	Image      string `json:"image,omitempty"`
	// BiggestKeyBytes is the largest serialized key seen on a primary (0 when
	// not measured).
	BiggestKeyBytes int64  `json:"biggestKeyBytes,omitempty"`
	BiggestKey      string `json:"biggestKey,omitempty"`
}

// Health is the cluster-wide health the admission guard requires.
type Health struct {
	// ClusterStateOK is true when every node reports cluster_state:ok.
	ClusterStateOK bool `json:"clusterStateOk"`
	// AllConnected is true when no node sees another as failing or disconnected.
	AllConnected bool `json:"allConnected"`
	// OpenSlots are slots some node has in MIGRATING or IMPORTING state.
	OpenSlots []int `json:"openSlots,omitempty"`
	// Problems are human-readable reasons behind any false flag above.
	Problems []string `json:"problems,omitempty"`
}

// Healthy reports whether an operation may start.
func (h Health) Healthy() bool { return h.ClusterStateOK && h.AllConnected && len(h.OpenSlots) == 0 }

// State is what the planner knows of an existing cluster.
type State struct {
	Spec      spec.Cluster `json:"spec"`
	Instances []Instance   `json:"instances"`
	// Slots are the slot ranges each shard's primary owns.
	Slots map[int]topology.Ranges `json:"slots"`
	// Zones are the zones with Ready, schedulable nodes.
	Zones []string `json:"zones"`
	// NextOrdinal is the lowest ordinal never used by this cluster (ordinals
	// are not reused, even after their instance was deleted).
	NextOrdinal int    `json:"nextOrdinal"`
	Health      Health `json:"health"`
}

// Shards returns the shard numbers present, sorted.
func (s State) Shards() []int { return s.model().Shards() }

func (s State) model() topology.Cluster {
	c := topology.Cluster{Name: s.Spec.Name}
	for _, in := range s.Instances {
		c.Instances = append(c.Instances, in.Instance)
	}
	return c
}

func (s State) nextOrdinal() int { return max(s.NextOrdinal, s.model().NextOrdinal()) }

func (s State) primary(shard int) (Instance, bool) {
	for _, in := range s.Instances {
		if in.Shard == shard && in.Role == topology.RolePrimary {
			return in, true
		}
	}
	return Instance{}, false
}

func (s State) replicas(shard int) []Instance {
	var out []Instance
	for _, in := range s.Instances {
		if in.Shard == shard && in.Role == topology.RoleReplica {
			out = append(out, in)
		}
	}
	return out
}
