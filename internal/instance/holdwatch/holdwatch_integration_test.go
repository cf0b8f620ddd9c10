package holdwatch_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/instance"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/slotmigrate/sourceguard"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestManagersTakeOverAHeldPrimary (holdwatch's Watch as the instance
// manager runs it): a slot move's mover is gone (its
// workflow terminated while the worker was down) and left its source
// mid-slot, half the slot's keys on the target, its replicas held from
// failover. The source is then SIGKILLed for good. Without the managers'
// watch nobody fails it over (the control): the shard stays down. With
// it, the managers of its two replicas take it over once it has been
// failed for their grace, carrying the slot's MIGRATING, and writers that
// wait for a replica (one on the open slot, one on every slot) lose no
// acknowledged write; every key of the open slot, moved or not, reads
// back. The importer's owner of the slot is set to the new primary (Redis
// takes no newer claim of a slot a node imports): without it the target
// answered CLUSTERDOWN to every key.
func TestManagersTakeOverAHeldPrimary(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	const grace = 4 * time.Second
	const nodeTimeout = 5 * time.Second // redistest's cluster-node-timeout
	for name, watch := range map[string]bool{"the managers take it over": true, "without the managers (control)": false} {
		t.Run(name, func(t *testing.T) {
			if testing.Short() && !watch {
				t.Skip("the control waits out the failover that does not come: make test runs it")
			}
			t.Parallel()
			ctx := t.Context()
			log := slog.New(slog.NewTextHandler(t.Output(), nil))
			c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 2, Password: "holdwatch"})
			// Start: the primaries first, then each primary's replicas.
			nodes := c.Nodes()
			src, dst, replicas := nodes[0], nodes[1], nodes[3:5]
			cc := c.ClusterClient()
			defer cc.Close()
			tag := tagOn(t, c, src.Addr)
			const filled = 200
			for k := range filled {
				if err := cc.Set(ctx, fmt.Sprintf("%s:f%d", tag, k), k, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			tagSlot := slotOf(t, c, src.Addr, tag)
			slot, moved, err := c.OpenHalfMoved(ctx, src.Addr, dst.Addr, tagSlot, tagSlot)
			if err != nil {
				t.Fatal(err)
			}
			dstID, err := c.NodeID(ctx, dst.Addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("slot %d open %s -> %s, %d of its keys moved; the mover is gone", slot, src.Addr, dst.Addr, moved)
			held := []string{replicas[0].Addr, replicas[1].Addr}
			if watch {
				// The replicas run under their instance managers, as in
				// their Pods (restarted: a replica's start is not fenced).
				for _, r := range replicas {
					runManaged(t, r, grace, log.With("manager", r.Addr))
				}
				for _, r := range held {
					if _, err := c.Admin.WaitInSync(ctx, clusteradmin.WaitInSyncInput{ReplicaAddr: r}); err != nil {
						t.Fatal(err)
					}
				}
			}
			sourceguard.Hold(ctx, c.Admin, held)
			wo := redistest.WriterOptions{Keys: 300, Workers: 2, WaitReplicas: 1, CheckPrevious: true, Prefix: tag + ":w"}
			open := redistest.StartWriter(ctx, cc, wo)
			defer open.Stop()
			all := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 3000, Workers: 2, WaitReplicas: 1, CheckPrevious: true})
			defer all.Stop()
			redistest.WaitFor(t, time.Minute, "writes", func() bool { return open.Stats().Acked > 1000 && all.Stats().Acked > 2000 })
			src.Kill()
			killed := time.Now()
			t.Logf("source %s SIGKILLed for good", src.Addr)
			if !watch {
				time.Sleep(nodeTimeout + grace + 5*time.Second)
				for _, r := range held {
					if v, err := c.Admin.ViewOnce(ctx, r); err != nil || v.Myself.IsPrimary() {
						t.Errorf("%s: primary %v (err %v) with its failover held and no manager, want a replica still",
							r, err == nil && v.Myself.IsPrimary(), err)
					}
				}
				return
			}
			var np clusteradmin.ClusterView
			redistest.WaitFor(t, time.Minute, "a replica of the source to take over", func() bool {
				for _, r := range held {
					if v, err := c.Admin.ViewOnce(ctx, r); err == nil && v.Myself.IsPrimary() && v.Myself.Slots.Contains(slot) {
						np = v
						return true
					}
				}
				return false
			})
			took := time.Since(killed)
			t.Logf("%s took over %s after the kill, migrating %v", np.Myself.Addr, took.Round(100*time.Millisecond), np.Myself.Migrating)
			if took < nodeTimeout+grace {
				t.Errorf("taken over %s after the kill, before cluster-node-timeout and the grace (%s): the hold did not hold",
					took, nodeTimeout+grace)
			}
			for _, r := range replicas {
				want := "" // never promoted
				if r.Addr == np.Myself.Addr {
					want = "takeover"
				}
				if got := r.Promotion(); got != want {
					t.Errorf("%s promoted by %q, want %q", r.Addr, got, want)
				}
			}
			if np.Myself.Migrating[slot] != dstID {
				t.Errorf("the new primary migrates %v, want slot %d to %s", np.Myself.Migrating, slot, dstID)
			}
			acked := open.Stats().Acked
			redistest.WaitFor(t, 30*time.Second, "writes to the open slot again", func() bool { return open.Stats().Acked > acked+200 })
			for _, w := range []*redistest.Writer{open, all} {
				w.Stop()
				if st := w.Stats(); st.Lost > 0 {
					t.Errorf("%d of %d acknowledged writes lost: %v", st.Lost, st.Acked, st.LostErr)
				}
				n, err := w.Verify(ctx, cc)
				if err != nil {
					t.Errorf("verify %d keys: %v", n, err)
				}
				st := w.Stats()
				t.Logf("writer %s: %d writes acknowledged, %d lost; %d keys verified", w.Key(0), st.Acked, st.Lost, n)
			}
			for k := range filled {
				key := fmt.Sprintf("%s:f%d", tag, k)
				if got, err := cc.Get(ctx, key).Int(); err != nil || got != k {
					t.Errorf("%s = %d (err %v), want %d", key, got, err, k)
				}
			}
		})
	}
}

// runManaged has an instance manager run node n (SIGKILLed first) until
// the test ends.
func runManaged(t *testing.T, n *redistest.Node, grace time.Duration, log *slog.Logger) {
	n.Kill()
	n.Release()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() {
		done <- instance.Run(ctx, instance.Options{Args: n.Args(), Stdout: io.Discard, Stderr: io.Discard,
			HoldGrace: grace, Log: log})
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// tagOn returns a hash tag whose slot the primary at addr owns.
func tagOn(t *testing.T, c *redistest.Cluster, addr string) string {
	t.Helper()
	v, err := c.Admin.View(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		tag := fmt.Sprintf("{h%d}", i)
		if v.Myself.Slots.Contains(slotOf(t, c, addr, tag)) {
			return tag
		}
	}
}

func slotOf(t *testing.T, c *redistest.Cluster, addr, key string) int {
	t.Helper()
	s, err := c.Pool.Client(addr).ClusterKeySlot(t.Context(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return int(s)
}
