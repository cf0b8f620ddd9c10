package topology

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Role is the live replication role of an instance.
type Role string

const (
	RolePrimary Role = "primary"
	RoleReplica Role = "replica"
)

// Instance is one redis-server of a cluster: a pod with a stable ordinal.
type Instance struct {
	// Ordinal is stable for the life of the instance and unique in the cluster.
	Ordinal int `json:"ordinal"`
	// Shard is the index of the shard the instance belongs to.
	Shard int `json:"shard"`
	// NodeID is the Redis Cluster node ID (40 hex characters), empty before the
	// instance has started.
	NodeID string `json:"node_id,omitempty"`
	// Addr is host:port of the client port.
	Addr string `json:"addr,omitempty"`
	Zone string `json:"zone,omitempty"`
	Role Role   `json:"role"`
}

// Cluster is the deployment model: instances grouped into shards. Each shard
// has exactly one primary; the primary owns the shard's slots.
type Cluster struct {
	Name      string     `json:"name"`
	Instances []Instance `json:"instances"`
}

// Shards returns the sorted shard indexes present in c.
func (c Cluster) Shards() []int {
	var out []int
	for _, in := range c.Instances {
		if !slices.Contains(out, in.Shard) {
			out = append(out, in.Shard)
		}
	}
	slices.Sort(out)
	return out
}

// Primary returns the primary of shard, if any.
func (c Cluster) Primary(shard int) (Instance, bool) {
	for _, in := range c.Instances {
		if in.Shard == shard && in.Role == RolePrimary {
			return in, true
		}
	}
	return Instance{}, false
}

// Replicas returns the replicas of shard ordered by ordinal.
func (c Cluster) Replicas(shard int) []Instance {
	var out []Instance
	for _, in := range c.Instances {
		if in.Shard == shard && in.Role == RoleReplica {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return a.Ordinal - b.Ordinal })
	return out
}

// NextOrdinal is one more than the largest ordinal in use (0 for an empty
// cluster): ordinals are never reused while an instance holds them.
func (c Cluster) NextOrdinal() int {
	n := 0
	for _, in := range c.Instances {
		n = max(n, in.Ordinal+1)
	}
	return n
}

// Validate reports every structural problem of c at once: duplicate ordinals,
// node IDs or addresses, shards without exactly one primary, unknown roles,
// and shards whose primary shares a zone with a replica although another zone
// is in use by the cluster.
func (c Cluster) Validate() error {
	var problems []string
	ordinals := map[int]bool{}
	ids := map[string]bool{}
	addrs := map[string]bool{}
	zones := map[string]bool{}
	for _, in := range c.Instances {
		if ordinals[in.Ordinal] {
			problems = append(problems, fmt.Sprintf("ordinal %d used twice", in.Ordinal))
		}
		ordinals[in.Ordinal] = true
		if in.NodeID != "" {
			if ids[in.NodeID] {
				problems = append(problems, fmt.Sprintf("node ID %s used twice", in.NodeID))
			}
			ids[in.NodeID] = true
		}
		if in.Addr != "" {
			if addrs[in.Addr] {
				problems = append(problems, fmt.Sprintf("address %s used twice", in.Addr))
			}
			addrs[in.Addr] = true
		}
		if in.Role != RolePrimary && in.Role != RoleReplica {
			problems = append(problems, fmt.Sprintf("ordinal %d: unknown role %q", in.Ordinal, in.Role))
		}
		if in.Zone != "" {
			zones[in.Zone] = true
		}
	}
	for _, s := range c.Shards() {
		n := 0
		for _, in := range c.Instances {
			if in.Shard == s && in.Role == RolePrimary {
				n++
			}
		}
		if n != 1 {
			problems = append(problems, fmt.Sprintf("shard %d has %d primaries, want 1", s, n))
			continue
		}
		p, _ := c.Primary(s)
		if len(zones) > 1 && p.Zone != "" {
			for _, r := range c.Replicas(s) {
				if r.Zone == p.Zone {
					problems = append(problems, fmt.Sprintf("shard %d: replica ordinal %d shares zone %s with its primary", s, r.Ordinal, p.Zone))
				}
			}
		}
	}
	if len(problems) > 0 {
		return &InvalidError{Problems: problems}
	}
	return nil
}

// InvalidError lists every problem found by a validation.
type InvalidError struct {
	Problems []string
}

func (e *InvalidError) Error() string {
	return "invalid: " + strings.Join(e.Problems, "; ")
}

// ErrInvalid matches any *InvalidError with errors.Is.
var ErrInvalid = errors.New("invalid")

func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }
