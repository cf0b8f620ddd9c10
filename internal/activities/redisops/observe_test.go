package redisops

import (
	"strconv"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/topology"
	"github.com/google/go-cmp/cmp"
)

// TestObserveReadsOneFullView: ObserveRedis answers what every node's own
// CLUSTER NODES says (IDs, roles, primaries, slots) while asking one node
// for CLUSTER NODES when open slots are not wanted, and every primary when
// they are; an open slot shows only then; a missing instance is reported.
func TestObserveReadsOneFullView(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, env, acts := activitiesOnRealRedis(t)
	addrs := c.Addrs()

	type own struct {
		ID, PrimaryID string
		Role          topology.Role
		Slots         topology.Ranges
	}
	want := map[string]own{}
	primaries := 0
	for _, addr := range addrs {
		text, err := c.Admin.Clients.Client(addr).ClusterNodes(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		v, err := clusteradmin.ParseClusterNodes(text)
		if err != nil {
			t.Fatal(err)
		}
		o := own{ID: v.Myself.ID, PrimaryID: v.Myself.PrimaryID, Role: topology.RoleReplica}
		if v.Myself.IsPrimary() {
			o.Role, o.Slots = topology.RolePrimary, v.Myself.Slots
			primaries++
		}
		want[addr] = o
	}
	clusterNodesCalls := func() int64 {
		var n int64
		for _, addr := range addrs {
			info, err := c.Admin.Clients.Client(addr).Info(ctx, "commandstats").Result()
			if err != nil {
				t.Fatal(err)
			}
			stat := clusteradmin.ParseInfo(info)["cmdstat_cluster|nodes"]
			calls, _, _ := strings.Cut(strings.TrimPrefix(stat, "calls="), ",")
			k, _ := strconv.ParseInt(calls, 10, 64)
			n += k
		}
		return n
	}
	for _, tc := range []struct {
		skip      bool
		fullViews int64
	}{{skip: true, fullViews: 1}, {skip: false, fullViews: int64(primaries)}} {
		before := clusterNodesCalls()
		obs := observe(t, env, acts, ObserveInput{Addrs: addrs, SkipOpenSlots: tc.skip})
		if got := clusterNodesCalls() - before; got != tc.fullViews {
			t.Errorf("skip open slots %v: %d CLUSTER NODES calls, want %d", tc.skip, got, tc.fullViews)
		}
		if !obs.StateOK || !obs.AllConnected || len(obs.Problems) > 0 || len(obs.InSync) != len(addrs)-primaries {
			t.Errorf("skip open slots %v: healthy cluster observed as %+v", tc.skip, obs)
		}
		got := map[string]own{}
		for _, n := range obs.Nodes {
			got[n.Addr] = own{ID: n.NodeID, PrimaryID: n.PrimaryID, Role: n.Role, Slots: n.Slots}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("skip open slots %v: nodes (-own views +observed):\n%s", tc.skip, diff)
		}
	}

	// An open slot on a primary other than the reference (the first in
	// Addrs): seen unless skipped.
	var src string
	for _, addr := range addrs {
		if want[addr].Role == topology.RolePrimary {
			src = addr
		}
	}
	slot := want[src].Slots[0].Start
	var tgtID string
	for _, o := range want {
		if o.Role == topology.RolePrimary && o.ID != want[src].ID {
			tgtID = o.ID
		}
	}
	cl := c.Admin.Clients.Client(src)
	if err := cl.Do(ctx, "cluster", "setslot", slot, "migrating", tgtID).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Do(ctx, "cluster", "setslot", slot, "stable").Err() })
	if obs := observe(t, env, acts, ObserveInput{Addrs: addrs}); !cmp.Equal(obs.OpenSlots, []int{slot}) {
		t.Errorf("open slots %v, want [%d]", obs.OpenSlots, slot)
	}
	if obs := observe(t, env, acts, ObserveInput{Addrs: addrs, SkipOpenSlots: true}); len(obs.OpenSlots) > 0 {
		t.Errorf("open slots %v with SkipOpenSlots", obs.OpenSlots)
	}

	// Observing a part of the cluster: each node must know Instances nodes.
	obs := observe(t, env, acts, ObserveInput{Addrs: addrs[:2], Instances: len(addrs), SkipOpenSlots: true})
	if !obs.AllConnected || len(obs.Nodes) != 2 {
		t.Errorf("a part of the cluster: %+v", obs)
	}
	obs = observe(t, env, acts, ObserveInput{Addrs: addrs, Instances: len(addrs) + 1, SkipOpenSlots: true})
	if obs.AllConnected || len(obs.Problems) != len(addrs) {
		t.Errorf("an instance no node knows: %+v", obs)
	}
}
