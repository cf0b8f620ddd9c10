package render

import (
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/google/go-cmp/cmp"
)

func testSpec() spec.Cluster {
	c := spec.Cluster{Name: "orders", Shards: 3, ReplicasPerShard: 1,
		Resources: spec.Resources{Memory: "1Gi"}, Config: map[string]string{"maxmemory-policy": "allkeys-lru"}}
	c.Default()
	return c
}

func TestRedisConf(t *testing.T) {
	tests := map[string]struct {
		mutate func(*spec.Cluster)
		has    []string
		hasNot []string
	}{
		"aof default": {
			has: []string{"cluster-enabled yes\n", "dir /data\n", "appendonly yes\n", "appendfsync everysec\n",
				"aof-use-rdb-preamble yes\n", "save \"\"\n",
				"maxmemory 805306368\n", "cluster-node-timeout 5000\n", "maxmemory-policy allkeys-lru\n"},
		},
		"rdb": {
			mutate: func(c *spec.Cluster) { c.Persistence.Mode = spec.PersistenceRDB },
			has:    []string{"appendonly no\n", `save "3600 1 300 100 60 10000"`},
			hasNot: []string{"appendfsync"},
		},
		"user node timeout wins": {
			mutate: func(c *spec.Cluster) { c.Config["cluster-node-timeout"] = "15000" },
			has:    []string{"cluster-node-timeout 15000\n"},
			hasNot: []string{"cluster-node-timeout 5000"},
		},
		"explicit maxmemory": {
			mutate: func(c *spec.Cluster) { c.Resources.MaxMemory = "100Mi" },
			has:    []string{"maxmemory 104857600\n"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := testSpec()
			if tc.mutate != nil {
				tc.mutate(&c)
			}
			conf := RedisConf(c)
			for _, s := range tc.has {
				if !strings.Contains(conf, s) {
					t.Errorf("redis.conf lacks %q:\n%s", s, conf)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(conf, s) {
					t.Errorf("redis.conf has %q:\n%s", s, conf)
				}
			}
		})
	}
}

func TestPod(t *testing.T) {
	c := testSpec()
	cm := ConfigMap(c)
	in := topology.Instance{Ordinal: 4, Shard: 1, Role: topology.RoleReplica}
	pod := Pod(c, in, Placement{RequireDistinctZones: true}, OwnerReference(cm))

	wantLabels := map[string]string{
		LabelManagedBy: "dayops", LabelName: "redis", LabelCluster: "orders",
		LabelShard: "1", LabelOrdinal: "4", LabelRole: "replica",
	}
	if diff := cmp.Diff(wantLabels, pod.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if pod.Name != "orders-4" || pod.Namespace != "default" {
		t.Errorf("name = %s/%s", pod.Namespace, pod.Name)
	}
	if got := pod.Spec.Volumes[0].PersistentVolumeClaim; got == nil || got.ClaimName != "data-orders-4" {
		t.Errorf("data volume = %+v, want claim data-orders-4", pod.Spec.Volumes[0])
	}
	req := pod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	if len(req) != 1 || req[0].TopologyKey != spec.DefaultZoneKey || req[0].LabelSelector.MatchLabels[LabelShard] != "1" {
		t.Errorf("required zone anti-affinity = %+v", req)
	}
	if pod.OwnerReferences[0].Name != "orders-config" {
		t.Errorf("owner = %+v", pod.OwnerReferences)
	}

	c.Persistence.Mode = spec.PersistenceNone
	pod = Pod(c, in, Placement{}, OwnerReference(cm))
	if pod.Spec.Volumes[0].EmptyDir == nil {
		t.Errorf("persistence none must use emptyDir, got %+v", pod.Spec.Volumes[0])
	}
	if n := len(pod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution); n != 0 {
		t.Errorf("without RequireDistinctZones no required term expected, got %d", n)
	}
}

func TestShardServiceSelectsPrimary(t *testing.T) {
	c := testSpec()
	svc := ShardService(c, 2, OwnerReference(ConfigMap(c)))
	want := map[string]string{LabelManagedBy: "dayops", LabelCluster: "orders", LabelShard: "2", LabelRole: "primary"}
	if diff := cmp.Diff(want, svc.Spec.Selector); diff != "" {
		t.Errorf("selector (-want +got):\n%s", diff)
	}
	if svc.Name != "orders-shard-2" {
		t.Errorf("name = %s", svc.Name)
	}
}

func TestSpecHashChangesWithImageAndConfig(t *testing.T) {
	a := testSpec()
	b := testSpec()
	if SpecHash(a) != SpecHash(b) {
		t.Fatal("same spec, different hash")
	}
	b.Image = "redis:7.0-next"
	c := testSpec()
	c.Config["maxmemory-policy"] = "noeviction"
	if SpecHash(a) == SpecHash(b) || SpecHash(a) == SpecHash(c) {
		t.Fatal("hash must change with image and config")
	}
}
