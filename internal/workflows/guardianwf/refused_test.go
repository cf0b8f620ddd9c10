package guardianwf

import (
	"slices"
	"testing"

	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/redis/misconf"
)

// A primary refusing writes makes the health Degraded with the refusal as
// a reason, though Redis and Kubernetes look whole; the guardian's own
// state (the watch's fingerprint) keeps the assessment's.
func TestHealthShowsAPrimaryRefusingWrites(t *testing.T) {
	g := &guardianRun{in: GuardianInput{Health: GuardianHealth{State: guard.StateHealthy, Reasons: make([]string, 0, 4),
		WritesRefused: []misconf.Refusal{{Ordinal: 1, Shard: 1, Reason: "MISCONF Errors writing to the AOF file: No space left on device"}}}}}
	h := g.health()
	want := []string{"shard-1's primary (ordinal 1) refuses writes: MISCONF Errors writing to the AOF file: No space left on device"}
	if h.State != guard.StateDegraded || !slices.Equal(h.Reasons, want) {
		t.Errorf("health %s %q, want Degraded %q", h.State, h.Reasons, want)
	}
	if g.in.Health.State != guard.StateHealthy || len(g.in.Health.Reasons) != 0 || len(g.in.Health.Reasons[:1]) != 1 || g.in.Health.Reasons[:1][0] != "" {
		t.Errorf("the guardian's own health changed: %s %q", g.in.Health.State, g.in.Health.Reasons)
	}
}
