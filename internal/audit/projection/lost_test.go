package projection_test

import (
	"testing"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/audit/projection"
	"github.com/dayops/dayops/internal/eventstore"
)

// An instance recorded lost stays lost in the replayed state until its
// recovery is recorded, which also moves it to its new zone; a loss of an
// ordinal the state does not hold adds no instance.
func TestLostUntilRecovered(t *testing.T) {
	p := projection.NewProjection()
	pos := int64(0)
	apply := func(pl audit.Payload) {
		pos++
		p.ApplyPayload(eventstore.Event{Position: pos, RecordedAt: time.Unix(pos, 0)}, pl)
	}
	apply(&audit.ClusterCreated{Cluster: "ns/c", Shards: 1, ReplicasPerShard: 1})
	apply(&audit.InstanceCreated{Cluster: "ns/c", Shard: 0, Ordinal: 0, Zone: "a", Role: audit.RolePrimary})
	apply(&audit.InstanceCreated{Cluster: "ns/c", Shard: 0, Ordinal: 1, Zone: "b", Role: audit.RoleReplica})
	apply(&audit.InstanceLost{Cluster: "ns/c", Shard: 0, Ordinal: 1, Reason: "pod c-1 is gone"})
	apply(&audit.InstanceLost{Cluster: "ns/c", Shard: 0, Ordinal: 7, Reason: "not in the state"})
	c := p.Clusters["ns/c"]
	if got := c.Instances[1].LostReason; got != "pod c-1 is gone" {
		t.Fatalf("after InstanceLost: lost reason %q", got)
	}
	if c.Instances[0].LostReason != "" || c.Instances[7] != nil {
		t.Fatalf("other instances: %+v, %+v", c.Instances[0], c.Instances[7])
	}
	apply(&audit.InstanceRecovered{Cluster: "ns/c", Shard: 0, Ordinal: 1, Zone: "c"})
	if in := c.Instances[1]; in.LostReason != "" || in.Zone != "c" {
		t.Fatalf("after InstanceRecovered: %+v", in)
	}
	apply(&audit.InstanceRecovered{Cluster: "ns/c", Shard: 0, Ordinal: 0})
	if in := c.Instances[0]; in.Zone != "a" {
		t.Fatalf("a recovery that names no zone keeps the zone: %+v", in)
	}
}
