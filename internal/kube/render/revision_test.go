package render

import (
	"testing"

	"github.com/dayops/dayops/internal/topology"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestUpgradePodMountsItsConfigRevision(t *testing.T) {
	c := testSpec()
	next := c
	next.Image = "redis:7.0-next"
	next.Config = map[string]string{"maxmemory-policy": "noeviction"}
	in := topology.Instance{Ordinal: 4, Shard: 2, Role: topology.RoleReplica, NodeID: "abc"}
	owner := metav1.OwnerReference{Name: "orders-config", UID: "u1"}

	p := UpgradePod(next, in, Placement{RequireDistinctZones: true}, owner)
	if got := p.Spec.Containers[0].Image; got != "redis:7.0-next" {
		t.Errorf("image %s", got)
	}
	var cm string
	for _, v := range p.Spec.Volumes {
		if v.Name == "config" {
			cm = v.ConfigMap.Name
		}
		if v.Name == "data" && (v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "data-orders-4") {
			t.Errorf("data volume %+v, want the ordinal's claim", v)
		}
	}
	if want := RevisionConfigMapName("orders", ConfigRevision(next)); cm != want || cm == ConfigMapName("orders") {
		t.Errorf("config volume %s, want %s", cm, want)
	}
	if p.Annotations[AnnotationSpecHash] != SpecHash(next) || p.Annotations[AnnotationNodeID] != "abc" || p.Labels[LabelRole] != "replica" {
		t.Errorf("annotations %v labels %v", p.Annotations, p.Labels)
	}
	if ConfigRevision(next) == ConfigRevision(c) {
		t.Error("two configs share a revision")
	}
	rc := RevisionConfigMap(next, owner)
	if rc.Data["redis.conf"] != RedisConf(next) || rc.Name != cm || len(rc.OwnerReferences) != 1 {
		t.Errorf("revision configmap %s owners %v", rc.Name, rc.OwnerReferences)
	}
	// Same image, same config: same hash, so an upgrade leaves it alone.
	if SpecHash(c) == SpecHash(next) {
		t.Error("different specs share a hash")
	}
}
