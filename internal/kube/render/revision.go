package render

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// LabelConfigRevision marks the ConfigMaps that hold one revision of
	// redis.conf (see RevisionConfigMap).
	LabelConfigRevision = "dayops.io/config-revision"
)

// ConfigRevision names one rendering of redis.conf.
func ConfigRevision(c spec.Cluster) string {
	h := sha256.Sum256([]byte(RedisConf(c)))
	return hex.EncodeToString(h[:])[:10]
}

// RevisionConfigMapName is the ConfigMap holding one revision of the
// cluster's redis.conf: "<cluster>-config-<revision>".
func RevisionConfigMapName(cluster, revision string) string {
	return cluster + "-config-" + revision
}

// RevisionConfigMap holds the redis.conf of spec c under its revision. Pods an
// upgrade recreates mount it rather than the cluster's ConfigMap, so that
// during a rolling config change each Pod reads the config it was created
// for (a shared ConfigMap would change under the Pods not upgraded yet).
func RevisionConfigMap(c spec.Cluster, owner metav1.OwnerReference) *corev1.ConfigMap {
	rev := ConfigRevision(c)
	return &corev1.ConfigMap{
		ObjectMeta: meta(c, RevisionConfigMapName(c.Name, rev), map[string]string{LabelConfigRevision: rev}, &owner),
		Data:       map[string]string{"redis.conf": RedisConf(c)},
	}
}

// UpgradePod is the Pod of instance in for spec c as an upgrade recreates it:
// Pod's, mounting the revision ConfigMap of c.
func UpgradePod(c spec.Cluster, in topology.Instance, pl Placement, owner metav1.OwnerReference) *corev1.Pod {
	pod := Pod(c, in, pl, owner)
	for i, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil && v.Name == "config" {
			pod.Spec.Volumes[i].ConfigMap.Name = RevisionConfigMapName(c.Name, ConfigRevision(c))
		}
	}
	return pod
}
