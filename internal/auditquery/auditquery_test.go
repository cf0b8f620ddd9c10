package auditquery

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/audit/projection"
	"github.com/dayops/dayops/internal/eventstore"
)

// TestWireTwinsKeepEveryField guards State's JSON conversion: every field of
// the projection types must survive into their apiv1 twins.
func TestWireTwinsKeepEveryField(t *testing.T) {
	at := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	c := &projection.ClusterState{Name: "default/orders", Deleted: true, RedisVersion: "7.0.15", Image: "redis:7", CreatedAt: at, UpdatedAt: at,
		Shards:        map[int]*projection.ShardState{0: {ID: 0, Slots: []audit.SlotRange{{Start: 0, End: 100}}}},
		Instances:     map[int]*projection.InstanceState{3: {Ordinal: 3, Shard: 0, Pod: "p", Zone: "z", Role: "primary", Image: "i", RedisVersion: "v", CreatedAt: at}},
		LastOperation: &projection.OperationSummary{ID: "op", Kind: "create", Status: "failed", Error: "e", Actor: "a", At: at}, Position: 9}
	tls := []*projection.Timeline{{OperationID: "op", Cluster: "c", Kind: "k", Status: "s", Actor: "a", Reason: "r", RequestedAt: at, StartedAt: at, EndedAt: at,
		Error: "e", Steps: []projection.StepState{{ID: "1", Name: "n", Target: "t", Start: at, End: at, Outcome: "completed", Detail: "d", Error: "e"}},
		Hooks: []projection.HookState{{Hook: "h", Point: "p", Target: "t", Outcome: "o", Error: "e", DurationMS: 5, At: at}}, Position: 8}}
	for _, tc := range []struct {
		name     string
		from, to any
	}{{"cluster", c, new(*apiv1.AuditClusterState)}, {"timelines", tls, new([]*apiv1.AuditTimeline)}} {
		if err := convert(tc.from, tc.to); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(tc.from)
		got, _ := json.Marshal(tc.to)
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, want)
		}
	}
	var wc apiv1.AuditClusterState
	_ = convert(c, &wc)
	if wc.SlotCount() != c.SlotCount() {
		t.Errorf("SlotCount %d, want %d", wc.SlotCount(), c.SlotCount())
	}
}

// TestCheckpointCopyTwin guards the wire form of a checkpoint copy: a copy
// written by audit.CopyCheckpoints (an eventstore.Checkpoint's JSON) must
// pass through apiv1.AuditCheckpointCopy unchanged.
func TestCheckpointCopyTwin(t *testing.T) {
	c := eventstore.Checkpoint{Seq: 3, Position: 42, Hash: []byte{1, 2, 3}, SignedAt: time.Date(2026, 12, 3, 7, 0, 0, 5000, time.UTC),
		KeyID: "k1", Signature: []byte{4, 5}, Format: 2}
	want, _ := json.Marshal(c)
	var w apiv1.AuditCheckpointCopy
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(w)
	if string(got) != string(want) {
		t.Errorf("copy:\n got %s\nwant %s", got, want)
	}
}
