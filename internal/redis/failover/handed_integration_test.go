package failover_test

import (
	"testing"
	"time"

	"github.com/dayops/dayops/internal/redis/failover"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
)

// An old primary that dies once the replica is promoted (a primary whose
// volume is full stops on the first write it must replicate) counts as
// handed over once the new primary flags it failed, and a look at it never
// waits for the Admin's retries of a dead node (2 minutes: before, the next
// attempt's first look spent the whole failover's time; seen once in the
// misconf test under the suite's load).
func TestAnOldPrimaryThatDiesAfterThePromotionIsHandedOver(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1})
	a := c.Admin
	replica, primary := replicaAndPrimary(t, a, c.Addrs())
	res, err := failover.Run(ctx, a, failover.Input{ReplicaAddr: replica.Addr, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		if n.Addr == primary.Addr {
			n.Kill()
		}
	}
	began := time.Now()
	if done, role := failover.HandedOver(ctx, a, replica.Addr, primary.Addr, res.NewPrimaryID, res.OldPrimaryID); done || role != topology.RolePrimary {
		t.Errorf("right after the old primary died: handed over %v, role %q; want not yet (not flagged failed), primary", done, role)
	}
	if took := time.Since(began); took > 2*failover.RoleWait+time.Second {
		t.Errorf("one look took %v with the old primary dead, want at most about %v", took, 2*failover.RoleWait)
	}
	redistest.WaitFor(t, 30*time.Second, "handed over once the new primary flags the old one failed", func() bool {
		done, _ := failover.HandedOver(ctx, a, replica.Addr, primary.Addr, res.NewPrimaryID, res.OldPrimaryID)
		return done
	})
}
