package clusteradmin_test

import (
	"slices"
	"testing"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/failover"
	"github.com/dayops/dayops/internal/redis/slotmigrate"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
)

func TestRolesFailoverForgetReset(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1})
	a := c.Admin

	probe, err := slotmigrate.New(a).Probe(ctx, slotmigrate.ProbeInput{Addr: c.Addrs()[0]})
	if err != nil {
		t.Fatal(err)
	}
	if probe.Atomic != slotmigrate.AtomicNone {
		t.Errorf("redis 7.0 probed as %q", probe.Atomic)
	}

	roles, err := a.Roles(ctx, clusteradmin.RolesInput{Addrs: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	var replica, primary clusteradmin.NodeRole
	count := map[topology.Role]int{}
	for _, r := range roles.Nodes {
		count[r.Role]++
		if r.Role == topology.RoleReplica && replica.Addr == "" {
			replica = r
		}
	}
	for _, r := range roles.Nodes {
		if r.NodeID == replica.PrimaryID {
			primary = r
		}
	}
	if count[topology.RolePrimary] != 3 || count[topology.RoleReplica] != 3 || !replica.LinkUp || primary.Slots.Count() == 0 {
		t.Fatalf("roles = %+v", roles.Nodes)
	}

	cc := c.ClusterClient()
	defer cc.Close()
	w := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 2000, Workers: 2})
	defer w.Stop()
	if _, err := a.WaitInSync(ctx, clusteradmin.WaitInSyncInput{ReplicaAddr: replica.Addr}); err != nil {
		t.Fatal(err)
	}
	fo, err := failover.Run(ctx, a, failover.Input{ReplicaAddr: replica.Addr})
	if err != nil {
		t.Fatal(err)
	}
	if fo.NewPrimaryID != replica.NodeID || fo.OldPrimaryID != primary.NodeID || fo.AlreadyPrimary {
		t.Errorf("failover = %+v", fo)
	}
	again, err := failover.Run(ctx, a, failover.Input{ReplicaAddr: replica.Addr})
	if err != nil || !again.AlreadyPrimary {
		t.Errorf("second failover = %+v, %v", again, err)
	}
	rep, err := a.Replicate(ctx, clusteradmin.ReplicateInput{ReplicaAddr: primary.Addr, PrimaryAddr: replica.Addr})
	if err != nil || rep.Changed {
		t.Errorf("replicate old primary (already following) = %+v, %v", rep, err)
	}
	roles, err = a.Roles(ctx, clusteradmin.RolesInput{Addrs: []string{replica.Addr, primary.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	if roles.Nodes[0].Role != topology.RolePrimary || roles.Nodes[1].Role != topology.RoleReplica || roles.Nodes[1].PrimaryID != replica.NodeID {
		t.Errorf("after failover: %+v", roles.Nodes)
	}
	w.Stop()
	if _, err := w.Verify(ctx, cc); err != nil {
		t.Fatal(err)
	}

	// A node that joined and must leave again: reset it, forget it.
	n, err := c.AddPrimary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := c.NodeID(ctx, n.Addr)
	reset, err := a.Reset(ctx, clusteradmin.ResetInput{Addr: n.Addr, Hard: true})
	if err != nil {
		t.Fatal(err)
	}
	if reset.NodeID == id {
		t.Error("hard reset kept the node ID")
	}
	others := slices.DeleteFunc(c.Addrs(), func(s string) bool { return s == n.Addr })
	fg, err := a.Forget(ctx, clusteradmin.ForgetInput{NodeID: id, Addrs: others})
	if err != nil {
		t.Fatal(err)
	}
	if len(fg.ForgottenOn) != len(others) {
		t.Errorf("forgotten on %v, want all %d", fg.ForgottenOn, len(others))
	}
	if fg, err = a.Forget(ctx, clusteradmin.ForgetInput{NodeID: id, Addrs: others}); err != nil || len(fg.ForgottenOn) != 0 {
		t.Errorf("second forget = %+v, %v", fg, err)
	}
	n.Kill()
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
