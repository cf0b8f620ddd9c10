package workflows

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"
)

// activityBytes is what one activity type takes in a recorded history: its
// calls, their input and result payload bytes, and the encoded (protobuf)
// size of their scheduled, started and completed events.
type activityBytes struct {
	Calls, Input, Result, Events int
}

// historyBytes sums activityBytes per activity type of a recorded history.
func historyBytes(t *testing.T, path string) map[string]*activityBytes {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*activityBytes{}
	names := map[int64]string{}
	at := func(scheduled int64) *activityBytes {
		n := names[scheduled]
		if out[n] == nil {
			out[n] = &activityBytes{}
		}
		return out[n]
	}
	for _, e := range h.Events {
		switch {
		case e.GetActivityTaskScheduledEventAttributes() != nil:
			a := e.GetActivityTaskScheduledEventAttributes()
			names[e.EventId] = a.ActivityType.GetName()
			b := at(e.EventId)
			b.Calls++
			b.Events += proto.Size(e)
			for _, p := range a.GetInput().GetPayloads() {
				b.Input += len(p.Data)
			}
		case e.GetActivityTaskStartedEventAttributes() != nil:
			at(e.GetActivityTaskStartedEventAttributes().ScheduledEventId).Events += proto.Size(e)
		case e.GetActivityTaskCompletedEventAttributes() != nil:
			a := e.GetActivityTaskCompletedEventAttributes()
			b := at(a.ScheduledEventId)
			b.Events += proto.Size(e)
			for _, p := range a.GetResult().GetPayloads() {
				b.Result += len(p.Data)
			}
		case e.GetActivityTaskFailedEventAttributes() != nil:
			at(e.GetActivityTaskFailedEventAttributes().ScheduledEventId).Events += proto.Size(e)
		}
	}
	return out
}

// TestGateHistoryBytes measures what one health gate evaluation adds to a
// history, in the recorded bake children (nothing but gate evaluations and
// their audit records): before versionGateActivity (upgrade-bake.json:
// CheckInstancesSteady, a whole-cluster ObserveCluster and HealthGate) and
// after (upgrade-bake-gate.json: ClusterHealthGate), both from TestUpgrade's
// 3 x 1 cluster. Run it with -v for the figures (bench/README.md, term 3).
// The new gate must hold no observation and stay small; the old one grew by
// about 1.2 KB per instance, the new one does not grow.
func TestGateHistoryBytes(t *testing.T) {
	dir := filepath.Join("testdata", "histories")
	perGate := func(file string, acts ...string) activityBytes {
		t.Helper()
		bytes := historyBytes(t, filepath.Join(dir, file))
		var sum activityBytes
		calls := 0
		for _, a := range acts {
			b := bytes[a]
			if b == nil {
				t.Fatalf("%s: no %s in %v", file, a, slices.Sorted(func(yield func(string) bool) {
					for k := range bytes {
						if !yield(k) {
							return
						}
					}
				}))
			}
			if calls == 0 {
				calls = b.Calls
			}
			sum.Input += b.Input / b.Calls
			sum.Result += b.Result / b.Calls
			sum.Events += b.Events / b.Calls
			t.Logf("%s: %-20s %d call(s), per call: input %5d B, result %5d B, events %5d B (encoded)", file, a, b.Calls, b.Input/b.Calls, b.Result/b.Calls, b.Events/b.Calls)
		}
		if _, ok := bytes["ObserveCluster"]; ok && !slices.Contains(acts, "ObserveCluster") {
			t.Errorf("%s: a gate observes the cluster", file)
		}
		sum.Calls = calls
		t.Logf("%s: one gate (%s): payloads %d B (input %d, result %d), events %d B", file, strings.Join(acts, " + "),
			sum.Input+sum.Result, sum.Input, sum.Result, sum.Events)
		return sum
	}
	before := perGate("upgrade-bake.json", "CheckInstancesSteady", "ObserveCluster", "HealthGate")
	after := perGate("upgrade-bake-gate.json", "ClusterHealthGate")
	if after.Events*3 > before.Events || after.Input+after.Result > 1500 {
		t.Errorf("one gate: %d B of events (before %d), %d B of payloads: want a third at most, and payloads of constant size",
			after.Events, before.Events, after.Input+after.Result)
	}
}
