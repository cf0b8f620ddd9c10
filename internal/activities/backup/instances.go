package backup

import (
	"context"
	"fmt"

	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/redis/rdb"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func intOrString(p int) intstr.IntOrString { return intstr.FromInt32(int32(p)) }

// RestoredInstancesInput creates a restored cluster's instances: primaries
// start with their shard's data.
type RestoredInstancesInput struct {
	Spec      spec.Cluster        `json:"spec"`
	Instances []topology.Instance `json:"instances"`
	Placement render.Placement    `json:"placement"`
	// Sources are the temporary instances by shard, which each new primary's
	// init container copies its dump.rdb from.
	Sources map[int]string `json:"sources"`
}

// StepTarget names the step in the audit log.
func (in RestoredInstancesInput) StepTarget() string {
	return fmt.Sprintf("%s/%s: %d instances", in.Spec.Namespace, in.Spec.Name, len(in.Instances))
}

// EnsureRestoredInstances creates the PVC and Pod of every instance that
// lacks them, as kube.EnsureInstances does, with one difference: a primary's
// Pod has an init container (the cluster's own Redis image, redis-cli)
// that copies its shard's RDB from the temporary instance onto the data
// volume as dump.rdb, or appendonly.aof with AOF persistence (`redis-cli
// --rdb`, the replication protocol), so the new primary loads it when it
// starts. The copy happens only on the first
// start (no nodes.conf yet); replicas start empty and sync from their
// primary.
func (a *Activities) EnsureRestoredInstances(ctx context.Context, in RestoredInstancesInput) error {
	c := in.Spec
	cm, err := a.Kube.CoreV1().ConfigMaps(c.Namespace).Get(ctx, render.ConfigMapName(c.Name), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get configmap %s: %w", render.ConfigMapName(c.Name), err)
	}
	owner := render.OwnerReference(cm)
	for _, inst := range in.Instances {
		if c.Persistence.Mode != spec.PersistenceNone {
			_, err := a.Kube.CoreV1().PersistentVolumeClaims(c.Namespace).Create(ctx, render.PVC(c, inst), metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create pvc %s: %w", render.PVCName(c.Name, inst.Ordinal), err)
			}
		}
		pod := render.WithInstanceManager(render.Pod(c, inst, in.Placement, owner), a.InstanceImage)
		if inst.Role == topology.RolePrimary {
			src, ok := in.Sources[inst.Shard]
			if !ok {
				return fmt.Errorf("no temporary instance for shard-%d", inst.Shard)
			}
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, restoreInit(c, src))
		}
		if _, err := a.Kube.CoreV1().Pods(c.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create pod %s: %w", pod.Name, err)
		}
		heartbeat(ctx, inst.Ordinal)
	}
	return nil
}

func restoreInit(c spec.Cluster, src string) corev1.Container {
	host, port := src, fmt.Sprint(render.RedisPort)
	if h, p, err := rdb.SplitHostPort(src); err == nil {
		host, port = h, p
	}
	d := render.DataDir
	script := `test -e ` + d + `/nodes.conf || ` +
		`{ redis-cli -h "$RESTORE_HOST" -p "$RESTORE_PORT" --rdb ` + d + `/dump.rdb.part && ` +
		`mv ` + d + `/dump.rdb.part ` + d + `/dump.rdb; }`
	if c.Persistence.Mode == spec.PersistenceAOF {
		// With appendonly yes Redis ignores dump.rdb. An RDB is a valid AOF
		// (an RDB preamble with no tail): as appendonly.aof in the data
		// directory, without an appendonlydir, Redis 7 adopts it as the base
		// of its multi-part AOF (its upgrade path) and Redis 6 loads it as
		// is. Only on the first start, like the copy itself.
		script = `test -e ` + d + `/nodes.conf || ` +
			`{ redis-cli -h "$RESTORE_HOST" -p "$RESTORE_PORT" --rdb ` + d + `/dump.rdb.part && ` +
			`rm -rf ` + d + `/appendonlydir && mv ` + d + `/dump.rdb.part ` + d + `/appendonly.aof; }`
	}
	return corev1.Container{
		Name: "restore", Image: c.Image, Command: []string{"sh", "-c", script},
		Env: []corev1.EnvVar{
			{Name: "RESTORE_HOST", Value: host}, {Name: "RESTORE_PORT", Value: port},
			{Name: "REDISCLI_AUTH", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: render.PasswordSecretName(c)}, Key: render.PasswordKey}}},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: render.DataDir}},
	}
}
