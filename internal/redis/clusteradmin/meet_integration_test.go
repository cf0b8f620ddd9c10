package clusteradmin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// fence sets a one-time password on the node at addr, as dayops' instance
// manager does while it decides how the node rejoins, and returns a client
// that holds it.
func fence(t *testing.T, addr string) *redis.Client {
	t.Helper()
	ctx := t.Context()
	if err := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2}).ConfigSet(ctx, "requirepass", "fence-once").Err(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, Password: "fence-once", Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestMeetWaitsForAFencedNode: a node that refuses the cluster's password
// is met blind and waited for; here its fence lifts only once the cluster
// knows it (as a fenced former primary may need the others' gossip to
// follow its promoted replica), so Meet must meet it before it can read it.
// Before, Meet failed at once on the node's NOAUTH/WRONGPASS.
func TestMeetWaitsForAFencedNode(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3})
	seeds := c.Addrs()
	n, err := c.StartNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := redis.NewClient(&redis.Options{Addr: n.Addr, Protocol: 2}).ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	fenced := fence(t, n.Addr)
	lifted := make(chan time.Time, 1)
	go func() {
		// Lift once a node of the cluster knows this one.
		probe := redis.NewClient(&redis.Options{Addr: seeds[0], Protocol: 2})
		defer probe.Close()
		for ctx.Err() == nil {
			if nodes, err := probe.ClusterNodes(ctx).Result(); err == nil && strings.Contains(nodes, id) {
				time.Sleep(500 * time.Millisecond)
				if err := fenced.ConfigSet(ctx, "requirepass", "").Err(); err != nil {
					t.Errorf("lift the fence: %v", err)
				}
				lifted <- time.Now()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	res, err := c.Admin.Meet(ctx, clusteradmin.MeetInput{Addrs: append(seeds, n.Addr), BusPorts: map[string]int{n.Addr: n.BusPort},
		FenceWait: 30 * time.Second})
	if err != nil {
		t.Fatalf("meet with a fenced node: %v", err)
	}
	select {
	case <-lifted:
	default:
		t.Fatal("Meet returned before the fence was lifted")
	}
	if res.NodeIDs[n.Addr] != id {
		t.Errorf("node IDs %v: want %s for %s", res.NodeIDs, id, n.Addr)
	}
	if err := c.Check(ctx); err != nil {
		t.Error(err)
	}
}

// TestMeetGivesUpOnANodeThatStaysFenced: a fence that never lifts fails
// Meet after FenceWait with an error that names the node and the fence.
func TestMeetGivesUpOnANodeThatStaysFenced(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c := redistest.New(t, redistest.Options{Primaries: 3})
	seeds := c.Addrs()
	n, err := c.StartNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fence(t, n.Addr)
	_, err = c.Admin.Meet(ctx, clusteradmin.MeetInput{Addrs: append(seeds, n.Addr), BusPorts: map[string]int{n.Addr: n.BusPort},
		FenceWait: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), n.Addr) || !strings.Contains(err.Error(), "fence") {
		t.Fatalf("meet with a node fenced for good: %v, want an error naming %s and its fence", err, n.Addr)
	}
	if typ, retry := clusteradmin.Classify(err); retry {
		t.Errorf("classified %s, retryable: want final (the activity would wait again and again)", typ)
	}
}
