package auditcli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/apiv1"
)

// The state lists the instances the log records lost and not recovered.
func TestPrintStateNamesLostInstances(t *testing.T) {
	c := &apiv1.AuditClusterState{Name: "ns/orders", Shards: map[int]*apiv1.AuditShardState{0: {ID: 0}},
		Instances: map[int]*apiv1.AuditInstanceState{0: {Ordinal: 0, Shard: 0, Role: "primary"},
			1: {Ordinal: 1, Shard: 0, Role: "replica", LostReason: "pod orders-1 is gone"}}}
	var out bytes.Buffer
	if err := printState(&out, apiv1.AuditState{AsOf: "now", Cluster: c}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "lost, not recovered since (as recorded):\n  ordinal 1 (shard 0): pod orders-1 is gone\n") {
		t.Errorf("state:\n%s", out.String())
	}
	c.Instances[1].LostReason = ""
	out.Reset()
	if err := printState(&out, apiv1.AuditState{AsOf: "now", Cluster: c}); err != nil || strings.Contains(out.String(), "lost") {
		t.Errorf("state with nothing lost: %v\n%s", err, out.String())
	}
}
