package spec

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func valid() Cluster {
	return Cluster{Name: "orders", Shards: 3, ReplicasPerShard: 1}
}

func TestDefault(t *testing.T) {
	c := valid()
	c.Hooks = []Hook{{Name: "notify", Point: PreDelete, HTTP: &HTTPHook{URL: "http://127.0.0.1:9/x"}}}
	c.Default()
	again := c
	again.Default()
	if diff := cmp.Diff(c, again); diff != "" {
		t.Fatalf("Default is not idempotent (-first +second):\n%s", diff)
	}
	two := 2
	want := Cluster{
		Name: "orders", Namespace: "default", Shards: 3, ReplicasPerShard: 1, Image: "redis:7.0",
		Persistence: Persistence{Mode: PersistenceAOF, Size: "1Gi"},
		Zones:       ZonePolicy{Key: "topology.kubernetes.io/zone"},
		Hooks: []Hook{{Name: "notify", Point: PreDelete, Scope: ScopeShard, HTTP: &HTTPHook{URL: "http://127.0.0.1:9/x"},
			Timeout: Duration{30 * time.Second}, Retries: &two, FailurePolicy: FailOperation}},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("Default (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		mutate func(*Cluster)
		want   []string // "field: type" of every error, in order
	}{
		"valid":           {mutate: func(*Cluster) {}},
		"no replicas ok":  {mutate: func(c *Cluster) { c.ReplicasPerShard = 0 }},
		"missing name":    {mutate: func(c *Cluster) { c.Name = "" }, want: []string{"name: Required value"}},
		"bad name":        {mutate: func(c *Cluster) { c.Name = "Orders_1" }, want: []string{"name: Invalid value"}},
		"long name":       {mutate: func(c *Cluster) { c.Name = strings.Repeat("a", 41) }, want: []string{"name: Too long"}},
		"zero shards":     {mutate: func(c *Cluster) { c.Shards = 0 }, want: []string{"shards: Invalid value"}},
		"too many shards": {mutate: func(c *Cluster) { c.Shards = 129 }, want: []string{"shards: Invalid value"}},
		"negative replicas and bad image": {
			mutate: func(c *Cluster) { c.ReplicasPerShard = -1; c.Image = "redis 7" },
			want:   []string{"replicasPerShard: Invalid value", "image: Invalid value"},
		},
		"bad quantities": {
			mutate: func(c *Cluster) { c.Resources = Resources{CPU: "lots", Memory: "1Gi", MaxMemory: "2Gi"} },
			want:   []string{"resources.cpu: Invalid value", "resources.maxMemory: Invalid value"},
		},
		"bad persistence": {
			mutate: func(c *Cluster) { c.Persistence = Persistence{Mode: "zfs", Size: "-1Gi"} },
			want:   []string{"persistence.mode: Unsupported value", "persistence.size: Invalid value"},
		},
		"managed directive": {
			mutate: func(c *Cluster) { c.Config = map[string]string{"port": "7000", "maxmemory-policy": "noeviction"} },
			want:   []string{"config[port]: Forbidden"},
		},
		"directive with newline": {
			mutate: func(c *Cluster) { c.Config = map[string]string{"notify-keyspace-events": "Ex\nrequirepass x"} },
			want:   []string{"config[notify-keyspace-events]: Invalid value"},
		},
		"hook problems": {
			mutate: func(c *Cluster) {
				c.Hooks = []Hook{
					{Name: "a", Point: "sometime", HTTP: &HTTPHook{URL: "ftp://x"}},
					{Name: "b", Point: PreCreate},
					{Name: "c", Point: PreCreate, Scope: ScopeCluster, Exec: &ExecHook{Command: []string{"true"}}},
					{Name: "c", Point: PreCreate, HTTP: &HTTPHook{URL: "http://h/"}, Exec: &ExecHook{Command: []string{"x"}}},
				}
			},
			want: []string{
				"hooks[0].point: Unsupported value", "hooks[0].http.url: Invalid value",
				"hooks[1]: Required value",
				"hooks[2].scope: Invalid value",
				"hooks[3].name: Duplicate value", "hooks[3]: Invalid value",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			c.Default()
			var got []string
			for _, e := range c.Validate(DefaultLimits) {
				got = append(got, e.Field+": "+e.Type.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	var h Hook
	if err := json.Unmarshal([]byte(`{"name":"x","point":"pre-create","timeout":"90s"}`), &h); err != nil {
		t.Fatal(err)
	}
	if h.Timeout.Duration != 90*time.Second {
		t.Fatalf("timeout = %v, want 90s", h.Timeout)
	}
	b, _ := json.Marshal(h.Timeout)
	if string(b) != `"1m30s"` {
		t.Fatalf("marshal = %s", b)
	}
	if err := json.Unmarshal([]byte(`{"timeout":30}`), &h); err == nil {
		t.Fatal("a number must be rejected")
	}
}
