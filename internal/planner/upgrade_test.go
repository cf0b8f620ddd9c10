package planner

import (
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/google/go-cmp/cmp"
)

// zoned spreads each shard's instances over the three zones.
func zoned(st State) State {
	for i := range st.Instances {
		st.Instances[i].Zone = threeZones[(st.Instances[i].Ordinal)%len(threeZones)]
	}
	return st
}

func upgradeReq(st State, mut func(*spec.Upgrade)) UpgradeRequest {
	u := spec.Upgrade{Image: "redis:7.0-next"}
	if mut != nil {
		mut(&u)
	}
	u.Default()
	return UpgradeRequest{State: st, Upgrade: u}
}

func TestPlanUpgradeOrder(t *testing.T) {
	tests := map[string]struct {
		shards      int
		mut         func(*spec.Upgrade)
		wantCanary  []int
		wantBatches [][]int
	}{
		"default canary is the first shard, then one at a time": {
			shards: 3, wantCanary: []int{0}, wantBatches: [][]int{{1}, {2}},
		},
		"chosen canary, concurrency 2": {
			shards: 4, mut: func(u *spec.Upgrade) { u.Canary.Shards = []int{2}; u.Concurrency = 2 },
			wantCanary: []int{2}, wantBatches: [][]int{{0, 1}, {3}},
		},
		"single shard: canary only": {
			shards: 1, wantCanary: []int{0},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, up, err := PlanUpgrade(upgradeReq(zoned(state(tc.shards, 1, 1, 100)), tc.mut), DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantCanary, up.Canary); diff != "" {
				t.Errorf("canary (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantBatches, up.Batches); diff != "" {
				t.Errorf("batches (-want +got):\n%s", diff)
			}
			if up.Target.Image != "redis:7.0-next" || up.Previous.Image != "redis:7.0" {
				t.Errorf("target %s previous %s", up.Target.Image, up.Previous.Image)
			}
			if up.Instances != tc.shards*2 {
				t.Errorf("instances %d, want %d", up.Instances, tc.shards*2)
			}
		})
	}
}

func TestPlanUpgradeRejections(t *testing.T) {
	noReplica := zoned(state(2, 0, 1, 100))
	none := zoned(state(2, 1, 1, 100))
	none.Spec.Persistence.Mode = spec.PersistenceNone
	unhealthy := zoned(state(2, 1, 1, 100))
	unhealthy.Health.ClusterStateOK = false
	tests := map[string]struct {
		st           State
		mut          func(*spec.Upgrade)
		upToDate     map[int]bool
		wantConflict bool
		wantFields   []string
	}{
		"nothing asked": {
			st: zoned(state(2, 1, 1, 100)), mut: func(u *spec.Upgrade) { u.Image = "" }, wantFields: []string{"image"},
		},
		"bad fields": {
			st: zoned(state(2, 1, 1, 100)),
			mut: func(u *spec.Upgrade) {
				u.Image = "redis 8"
				u.Canary.Shards = []int{-1}
				u.Bake.Duration = -time.Second
				u.Concurrency = -1
				lag := int64(-5)
				u.Gate.MaxLagBytes = &lag
				rate := 2.0
				u.Gate.MaxErrorRate = &rate
			},
			wantFields: []string{"image", "canary.shards[0]", "bake", "concurrency", "gate.maxLagBytes", "gate.maxErrorRate"},
		},
		"unknown canary shard": {
			st: zoned(state(2, 1, 1, 100)), mut: func(u *spec.Upgrade) { u.Canary.Shards = []int{7} },
			wantFields: []string{"canary.shards[0]"},
		},
		"managed directive": {
			st: zoned(state(2, 1, 1, 100)), mut: func(u *spec.Upgrade) { u.Config = map[string]string{"port": "7000"} },
			wantFields: []string{"config[port]"},
		},
		"no persistence": {
			st: none, wantFields: []string{"persistence.mode"},
		},
		"already there": {
			st: zoned(state(2, 1, 1, 100)), mut: func(u *spec.Upgrade) { u.Image = "redis:7.0" },
			upToDate: map[int]bool{0: true, 1: true, 2: true, 3: true}, wantFields: []string{"image"},
		},
		"shard without replica": {
			st: noReplica, wantConflict: true, wantFields: []string{"acceptDowntime", "acceptDowntime"},
		},
		"unhealthy": {
			st: unhealthy, wantConflict: true, wantFields: []string{"cluster.state"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := upgradeReq(tc.st, tc.mut)
			req.UpToDate = tc.upToDate
			_, _, err := PlanUpgrade(req, DefaultLimits)
			if err == nil {
				t.Fatal("want a rejection")
			}
			conflict, fields := rejectionFields(t, err)
			if conflict != tc.wantConflict {
				t.Errorf("conflict %v, want %v (%v)", conflict, tc.wantConflict, err)
			}
			if diff := cmp.Diff(tc.wantFields, fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s\n%v", diff, err)
			}
		})
	}
}

func TestPlanUpgradeDowntimeAccepted(t *testing.T) {
	plan, up, err := PlanUpgrade(upgradeReq(zoned(state(2, 0, 1, 100)), func(u *spec.Upgrade) { u.AcceptDowntime = true }), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0, 1}, up.Downtime); diff != "" {
		t.Errorf("downtime (-want +got):\n%s", diff)
	}
	if !strings.Contains(plan.Summary, "DOWNTIME accepted for shard-0, shard-1") {
		t.Errorf("summary does not say the downtime: %s", plan.Summary)
	}
	if !strings.Contains(strings.Join(plan.Steps, "\n"), "restart primary ordinal 0 in place") {
		t.Errorf("steps do not say the restart: %v", plan.Steps)
	}
}

func TestShardSteps(t *testing.T) {
	inst := func(ord int, role topology.Role, zone string, inSync bool) Instance {
		return Instance{Instance: topology.Instance{Ordinal: ord, Shard: 0, Role: role, Zone: zone}, Ready: true, InSync: inSync}
	}
	p, r := topology.RolePrimary, topology.RoleReplica
	tests := map[string]struct {
		in       []Instance
		upToDate map[int]bool
		distinct bool
		downtime bool
		want     []UpgradeStep
		wantErr  string
	}{
		"replicas first, one at a time, then handover, then the old primary": {
			in:   []Instance{inst(0, p, "a", false), inst(1, r, "b", true), inst(2, r, "c", true)},
			want: []UpgradeStep{{Kind: StepRecreate, Ordinal: 1, Role: r}, {Kind: StepRecreate, Ordinal: 2, Role: r}, {Kind: StepHandover, Ordinal: 0, To: -1}, {Kind: StepRecreate, Ordinal: 0, Role: r}},
		},
		"live roles, not ordinals: the primary is ordinal 1": {
			in:   []Instance{inst(0, r, "a", true), inst(1, p, "b", false)},
			want: []UpgradeStep{{Kind: StepRecreate, Ordinal: 0, Role: r}, {Kind: StepHandover, Ordinal: 1, To: -1}, {Kind: StepRecreate, Ordinal: 1, Role: r}},
		},
		"replicas done: hand over to the in-sync one": {
			in:       []Instance{inst(0, p, "a", false), inst(1, r, "b", false), inst(2, r, "c", true)},
			upToDate: map[int]bool{1: true, 2: true},
			want:     []UpgradeStep{{Kind: StepHandover, Ordinal: 0, To: 2}, {Kind: StepRecreate, Ordinal: 0, Role: r}},
		},
		"zone rule: a replica sharing the primary's zone is not promoted": {
			in:       []Instance{inst(0, p, "a", false), inst(1, r, "a", true), inst(2, r, "c", false)},
			upToDate: map[int]bool{1: true, 2: true}, distinct: true,
			want: []UpgradeStep{{Kind: StepHandover, Ordinal: 0, To: 2}, {Kind: StepRecreate, Ordinal: 0, Role: r}},
		},
		"zone rule cannot hold": {
			in:       []Instance{inst(0, p, "a", false), inst(1, r, "a", true)},
			upToDate: map[int]bool{1: true}, distinct: true,
			wantErr: "zone rule",
		},
		"old primary left (after the handover)": {
			in:       []Instance{inst(0, r, "a", true), inst(1, p, "b", false)},
			upToDate: map[int]bool{1: true},
			want:     []UpgradeStep{{Kind: StepRecreate, Ordinal: 0, Role: r}},
		},
		"done": {
			in: []Instance{inst(0, r, "a", true), inst(1, p, "b", false)}, upToDate: map[int]bool{0: true, 1: true},
		},
		"no replica, no downtime": {
			in: []Instance{inst(0, p, "a", false)}, wantErr: "no replica",
		},
		"no replica, downtime accepted": {
			in: []Instance{inst(0, p, "a", false)}, downtime: true,
			want: []UpgradeStep{{Kind: StepRestartPrimary, Ordinal: 0, Role: p}},
		},
		"no primary": {
			in: []Instance{inst(0, r, "a", true)}, wantErr: "no primary",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ShardSteps(tc.in, tc.upToDate, tc.distinct, tc.downtime)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpgradeApplyConfig(t *testing.T) {
	c := clusterSpec(1, 1)
	c.Config = map[string]string{"maxmemory-policy": "noeviction", "hz": "10"}
	u := spec.Upgrade{Config: map[string]string{"hz": "", "maxmemory-policy": "allkeys-lru", "lazyfree-lazy-eviction": "yes"}}
	got := u.Apply(c)
	want := map[string]string{"maxmemory-policy": "allkeys-lru", "lazyfree-lazy-eviction": "yes"}
	if diff := cmp.Diff(want, got.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if c.Config["hz"] != "10" {
		t.Error("Apply changed its input")
	}
}
