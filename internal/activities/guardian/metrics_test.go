package guardian

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dayops/dayops/internal/operation"
)

// A switchover the guardian starts (a primary refusing writes) is counted
// apart from its recovers.
func TestStartedOperationsAreCountedByType(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	m.started("default/orders", operation.Recover)
	m.started("default/orders", operation.Switchover)
	m.started("default/orders", operation.Switchover)
	if got := testutil.ToFloat64(m.recoveries.WithLabelValues("default/orders")); got != 1 {
		t.Errorf("recoveries %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.switchovers.WithLabelValues("default/orders")); got != 2 {
		t.Errorf("switchovers %v, want 2", got)
	}
	var none *Metrics
	none.started("default/orders", operation.Recover) // records nothing, no panic
}
