package planner

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/google/go-cmp/cmp"
)

var threeZones = []string{"zone-a", "zone-b", "zone-c"}

func clusterSpec(shards, replicas int) spec.Cluster {
	c := spec.Cluster{Name: "orders", Shards: shards, ReplicasPerShard: replicas}
	c.Default()
	return c
}

// state builds a healthy cluster: shards with even slots, replicas in sync,
// each primary using used bytes of max bytes.
func state(shards, replicas int, used, maxMem int64) State {
	st := State{Spec: clusterSpec(shards, replicas), Slots: map[int]topology.Ranges{}, Zones: threeZones,
		Health: Health{ClusterStateOK: true, AllConnected: true}}
	ord := 0
	for s, r := range topology.EvenSplit(shards) {
		st.Slots[s] = topology.Ranges{r}
		st.Instances = append(st.Instances, Instance{Instance: topology.Instance{Ordinal: ord, Shard: s, Role: topology.RolePrimary},
			Pod: fmt.Sprintf("orders-%d", ord), Ready: true, UsedMemory: used, MaxMemory: maxMem})
		ord++
		for range replicas {
			st.Instances = append(st.Instances, Instance{Instance: topology.Instance{Ordinal: ord, Shard: s, Role: topology.RoleReplica},
				Pod: fmt.Sprintf("orders-%d", ord), Ready: true, InSync: true, UsedMemory: used, MaxMemory: maxMem})
			ord++
		}
	}
	st.NextOrdinal = ord
	return st
}

func rejectionFields(t *testing.T, err error) (conflict bool, fields []string) {
	t.Helper()
	var r *Rejection
	if !errors.As(err, &r) {
		t.Fatalf("want a *Rejection, got %v", err)
	}
	for _, e := range r.Errs {
		fields = append(fields, e.Field)
	}
	return r.Conflict, fields
}

func TestPlanCreate(t *testing.T) {
	p, err := PlanCreate(CreateRequest{Spec: clusterSpec(3, 1), Zones: threeZones}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	want := []topology.Instance{
		{Ordinal: 0, Shard: 0, Role: "primary"}, {Ordinal: 1, Shard: 0, Role: "replica"},
		{Ordinal: 2, Shard: 1, Role: "primary"}, {Ordinal: 3, Shard: 1, Role: "replica"},
		{Ordinal: 4, Shard: 2, Role: "primary"}, {Ordinal: 5, Shard: 2, Role: "replica"},
	}
	if diff := cmp.Diff(want, p.CreateInstances); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
	wantAssign := map[int]topology.Ranges{0: {{Start: 0, End: 5461}}, 1: {{Start: 5462, End: 10922}}, 2: {{Start: 10923, End: 16383}}}
	if diff := cmp.Diff(wantAssign, p.Assign); diff != "" {
		t.Errorf("assign (-want +got):\n%s", diff)
	}
	if !p.Placement.RequireDistinctZones || p.NextOrdinal != 6 {
		t.Errorf("placement %+v next ordinal %d", p.Placement, p.NextOrdinal)
	}
}

func TestPlanCreateZones(t *testing.T) {
	c := clusterSpec(3, 2)
	_, err := PlanCreate(CreateRequest{Spec: c, Zones: []string{"zone-a", "zone-b"}}, DefaultLimits)
	conflict, fields := rejectionFields(t, err)
	if conflict || !cmp.Equal(fields, []string{"zones.allowSharedZones"}) {
		t.Fatalf("conflict=%v fields=%v", conflict, fields)
	}
	c.Zones.AllowSharedZones = true
	p, err := PlanCreate(CreateRequest{Spec: c, Zones: []string{"zone-a", "zone-b"}}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if p.Placement.RequireDistinctZones || !strings.Contains(p.Placement.Warning, "only 2") {
		t.Fatalf("placement = %+v", p.Placement)
	}
}

func TestPlanCreateHooks(t *testing.T) {
	c := clusterSpec(2, 1)
	c.Hooks = []spec.Hook{
		{Name: "announce", Point: spec.PreCreate, Scope: spec.ScopeCluster, HTTP: &spec.HTTPHook{URL: "http://127.0.0.1:1/"}},
		{Name: "warm", Point: spec.PostCreate, Scope: spec.ScopeReplica, Exec: &spec.ExecHook{Command: []string{"true"}}},
		{Name: "bad", Point: spec.PreCreate, Exec: &spec.ExecHook{Command: []string{"true"}}},
	}
	c.Default()
	_, err := PlanCreate(CreateRequest{Spec: c, Zones: threeZones}, DefaultLimits)
	if _, fields := rejectionFields(t, err); !cmp.Equal(fields, []string{"hooks[2].exec"}) {
		t.Fatalf("fields = %v", fields)
	}
	c.Hooks = c.Hooks[:2]
	p, err := PlanCreate(CreateRequest{Spec: c, Zones: threeZones}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	want := []HookRun{
		{Point: spec.PreCreate, Hook: "announce", Scope: spec.ScopeCluster, Shard: -1, Ordinal: -1},
		{Point: spec.PostCreate, Hook: "warm", Scope: spec.ScopeReplica, Shard: 0, Ordinal: 1},
		{Point: spec.PostCreate, Hook: "warm", Scope: spec.ScopeReplica, Shard: 1, Ordinal: 3},
	}
	if diff := cmp.Diff(want, p.Hooks); diff != "" {
		t.Errorf("hooks (-want +got):\n%s", diff)
	}
}

func TestPlanScaleOut(t *testing.T) {
	st := state(3, 1, 100, 1000)
	st.NextOrdinal = 8 // ordinals 6 and 7 were used before and must not come back
	p, err := PlanScaleShards(ScaleShardsRequest{State: st, Shards: 4}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	wantNew := []topology.Instance{{Ordinal: 8, Shard: 3, Role: "primary"}, {Ordinal: 9, Shard: 3, Role: "replica"}}
	if diff := cmp.Diff(wantNew, p.CreateInstances); diff != "" {
		t.Errorf("new instances (-want +got):\n%s", diff)
	}
	if p.SlotsMoved != 4096 {
		t.Errorf("slots moved = %d, want 4096", p.SlotsMoved)
	}
	for _, m := range p.Moves {
		if m.To != 3 || m.From == 3 {
			t.Errorf("move %v must go from an old shard to shard-3", m)
		}
	}
	layout := topology.Layout{}
	for s, r := range st.Slots {
		layout[shardKey(s)] = r
	}
	layout[shardKey(3)] = nil
	var tp topology.Plan
	for _, m := range p.Moves {
		tp.Moves = append(tp.Moves, topology.Move{From: shardKey(m.From), To: shardKey(m.To), Range: m.Range})
	}
	after, err := topology.Apply(layout, tp)
	if err != nil {
		t.Fatal(err)
	}
	for n, c := range after.Counts() {
		if c != 4096 {
			t.Errorf("%s owns %d slots after the plan, want 4096", n, c)
		}
	}
}

func TestPlanScaleIn(t *testing.T) {
	st := state(4, 1, 100, 1000)
	p, err := PlanScaleShards(ScaleShardsRequest{State: st, Shards: 3}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(p.RemoveShards, []int{3}) || p.SlotsMoved != 4096 || len(p.DeleteInstances) != 2 {
		t.Fatalf("remove %v, moved %d, delete %v", p.RemoveShards, p.SlotsMoved, p.DeleteInstances)
	}
	recv := map[int]int{}
	for _, m := range p.Moves {
		if m.From != 3 {
			t.Errorf("move %v must drain shard-3", m)
		}
		recv[m.To] += m.Range.Len()
	}
	if len(recv) != 3 {
		t.Errorf("slots must spread over all 3 remaining shards, got %v", recv)
	}

	// 3 remaining primaries with 40 bytes free each cannot take 1.5 x 100 used.
	tight := state(4, 1, 100, 140)
	_, err = PlanScaleShards(ScaleShardsRequest{State: tight, Shards: 3}, DefaultLimits)
	if conflict, fields := rejectionFields(t, err); !conflict || !cmp.Equal(fields, []string{"shards"}) {
		t.Fatalf("conflict=%v fields=%v", conflict, fields)
	}

	big := state(4, 1, 100, 1000)
	for i := range big.Instances {
		if big.Instances[i].Shard == 3 && big.Instances[i].Role == topology.RolePrimary {
			big.Instances[i].BiggestKey, big.Instances[i].BiggestKeyBytes = "huge", 600<<20
		}
	}
	_, err = PlanScaleShards(ScaleShardsRequest{State: big, Shards: 3}, DefaultLimits)
	if conflict, _ := rejectionFields(t, err); !conflict || !strings.Contains(err.Error(), `"huge"`) {
		t.Fatalf("want the big key named, got %v", err)
	}
}

func TestPlanScaleShardsRejects(t *testing.T) {
	tests := map[string]struct {
		mutate       func(*State)
		shards       int
		wantConflict bool
		wantFields   []string
	}{
		"same count":   {shards: 3, wantFields: []string{"shards"}},
		"zero":         {shards: 0, wantFields: []string{"shards"}},
		"open slot":    {shards: 4, mutate: func(s *State) { s.Health.OpenSlots = []int{5461} }, wantConflict: true, wantFields: []string{"cluster.slots"}},
		"cluster down": {shards: 4, mutate: func(s *State) { s.Health.ClusterStateOK = false }, wantConflict: true, wantFields: []string{"cluster.state"}},
		"two zones for 3 per shard": {shards: 4, mutate: func(s *State) {
			s.Spec.ReplicasPerShard = 2
			s.Zones = s.Zones[:2]
		}, wantConflict: true, wantFields: []string{"allowSharedZones"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := state(3, 1, 100, 1000)
			if tc.mutate != nil {
				tc.mutate(&st)
			}
			_, err := PlanScaleShards(ScaleShardsRequest{State: st, Shards: tc.shards}, DefaultLimits)
			conflict, fields := rejectionFields(t, err)
			if conflict != tc.wantConflict || !cmp.Equal(fields, tc.wantFields) {
				t.Fatalf("conflict=%v fields=%v, want %v %v (%v)", conflict, fields, tc.wantConflict, tc.wantFields, err)
			}
		})
	}
}

func TestPlanScaleReplicas(t *testing.T) {
	st := state(3, 1, 100, 1000)
	p, err := PlanScaleReplicas(ScaleReplicasRequest{State: st, ReplicasPerShard: 2}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	want := []topology.Instance{{Ordinal: 6, Shard: 0, Role: "replica"}, {Ordinal: 7, Shard: 1, Role: "replica"}, {Ordinal: 8, Shard: 2, Role: "replica"}}
	if diff := cmp.Diff(want, p.CreateInstances); diff != "" {
		t.Errorf("add (-want +got):\n%s", diff)
	}

	// 1 -> 0 would remove the only in-sync replica of every shard.
	_, err = PlanScaleReplicas(ScaleReplicasRequest{State: st, ReplicasPerShard: 0}, DefaultLimits)
	if conflict, _ := rejectionFields(t, err); !conflict || !strings.Contains(err.Error(), "last in-sync replica") {
		t.Fatalf("want last-in-sync refusal, got %v", err)
	}

	// 2 -> 1 removes the out-of-sync replica, even when it is the older one.
	st2 := state(1, 2, 100, 1000)
	st2.Instances[1].InSync = false // ordinal 1
	p, err = PlanScaleReplicas(ScaleReplicasRequest{State: st2, ReplicasPerShard: 1}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]topology.Instance{{Ordinal: 1, Shard: 0, Role: "replica"}}, p.DeleteInstances); diff != "" {
		t.Errorf("remove (-want +got):\n%s", diff)
	}
	_, err = PlanScaleReplicas(ScaleReplicasRequest{State: st, ReplicasPerShard: 1}, DefaultLimits)
	if conflict, fields := rejectionFields(t, err); conflict || !cmp.Equal(fields, []string{"replicasPerShard"}) {
		t.Fatalf("no-op must be a request error, got conflict=%v %v", conflict, fields)
	}
}

func TestPlanDelete(t *testing.T) {
	st := state(3, 1, 100, 1000)
	p, err := PlanDelete(DeleteRequest{State: st}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.DeleteInstances) != 6 || p.DeleteVolumes || !strings.Contains(p.Summary, "keep the data volumes") {
		t.Fatalf("plan = %+v", p)
	}
}
