package projection_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/audit/projection"
	"github.com/dayops/dayops/internal/eventstore"
)

// BenchmarkFold measures decoding and applying events without the database
// (the CPU part of a replay): go test -bench Fold ./internal/audit
func BenchmarkFold(b *testing.B) {
	var events []eventstore.Event
	at := time.Now()
	add := func(p audit.Payload) {
		pl, err := json.Marshal(p)
		if err != nil {
			b.Fatal(err)
		}
		events = append(events, eventstore.Event{Position: int64(len(events) + 1), Type: p.EventType(),
			SchemaVersion: p.SchemaVersion(), Payload: pl, Metadata: eventstore.Metadata{Actor: "bench", Reason: "r"}, RecordedAt: at})
	}
	for op := range 200 {
		c := fmt.Sprintf("c%d", op%20)
		id := fmt.Sprintf("op-%d", op)
		add(audit.OperationRequested{OperationID: id, Cluster: c, Kind: "scale-shards"})
		add(audit.OperationStarted{OperationID: id, Cluster: c})
		for k := range 240 {
			step := fmt.Sprintf("step-%d", k)
			add(audit.StepStarted{OperationID: id, Cluster: c, StepID: step, Name: "migrate slots"})
			s := (k * 37) % 16000
			add(audit.SlotsMigrated{Cluster: c, FromShard: k % 8, ToShard: (k + 1) % 8, Slots: []audit.SlotRange{{Start: s, End: s + 99}}})
			add(audit.StepCompleted{OperationID: id, Cluster: c, StepID: step})
			add(audit.RoleChanged{Cluster: c, Ordinal: k % 64, Role: audit.RolePrimary})
		}
		add(audit.OperationCompleted{OperationID: id, Cluster: c})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p := projection.NewProjection()
		for _, e := range events {
			if err := p.Apply(e); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
