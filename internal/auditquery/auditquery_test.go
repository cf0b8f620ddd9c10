package auditquery

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/eventstore"
)

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
