package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// DefaultNodeTimeoutMillis is cluster-node-timeout unless the spec's config
// sets it: a third of Redis' default, so that a lost primary is replaced in
// seconds rather than after 15 s.
const DefaultNodeTimeoutMillis = 5000

// Placement says how strictly the instances of one shard are kept apart.
type Placement struct {
	// RequireDistinctZones makes zone anti-affinity between the instances of a
	// shard required (the planner sets it when there are enough zones);
	// otherwise it is preferred.
	RequireDistinctZones bool
}

// RedisConf renders the cluster's redis.conf. Directives dayops manages come
// first; the spec's own directives follow in sorted order (validation has
// already refused any that would override a managed one).
func RedisConf(c spec.Cluster) string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%s %s\n", k, v) }
	b.WriteString("# Rendered by dayops; edit the cluster spec, not this file.\n")
	line("port", strconv.Itoa(RedisPort))
	line("protected-mode", "no")
	line("cluster-enabled", "yes")
	line("cluster-config-file", DataDir+"/nodes.conf")
	// dayops places replicas itself (zone rule); Redis must not move them.
	line("cluster-allow-replica-migration", "no")
	line("dir", DataDir)
	switch c.Persistence.Mode {
	case spec.PersistenceAOF:
		// everysec: a write normally reaches the AOF (the page cache)
		// before its reply, but Redis postpones the AOF write (up to 2 s)
		// while a background fsync runs and replies meanwhile; a process
		// crash then loses acknowledged writes from the AOF, which its
		// replicas hold: the instance manager's fence lets a replica that
		// was connected at the crash take over (internal/instance, rule 4).
		// The RDB preamble keeps rewrites and restarts fast.
		line("appendonly", "yes")
		// Defaults the spec's config may override (both are allowlisted).
		if _, ok := c.Config["appendfsync"]; !ok {
			line("appendfsync", "everysec")
		}
		if _, ok := c.Config["aof-use-rdb-preamble"]; !ok {
			line("aof-use-rdb-preamble", "yes")
		}
		line("save", `""`)
	case spec.PersistenceRDB:
		line("appendonly", "no")
		line("save", `"3600 1 300 100 60 10000"`)
	default:
		line("appendonly", "no")
		line("save", `""`)
	}
	if mm := maxMemory(c.Resources); mm != "" {
		line("maxmemory", mm)
	}
	if _, ok := c.Config["cluster-node-timeout"]; !ok {
		line("cluster-node-timeout", strconv.Itoa(DefaultNodeTimeoutMillis))
	}
	keys := make([]string, 0, len(c.Config))
	for k := range c.Config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		line(k, c.Config[k])
	}
	return b.String()
}

// maxMemory is the spec's maxMemory in bytes, or 75% of the memory limit.
func maxMemory(r spec.Resources) string {
	if r.MaxMemory != "" {
		q := resource.MustParse(r.MaxMemory)
		return strconv.FormatInt(q.Value(), 10)
	}
	if r.Memory != "" {
		q := resource.MustParse(r.Memory)
		return strconv.FormatInt(q.Value()*3/4, 10)
	}
	return ""
}

// ConfigMap is the cluster's redis.conf; it is the owner of the cluster's Pods
// and Services, so deleting it garbage-collects them.
func ConfigMap(c spec.Cluster) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: meta(c, ConfigMapName(c.Name), nil, nil),
		Data:       map[string]string{"redis.conf": RedisConf(c)},
	}
}

// Secret holds the generated password of a cluster whose spec names none.
func Secret(c spec.Cluster, password string, owner metav1.OwnerReference) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: meta(c, SecretName(c.Name), nil, &owner),
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{PasswordKey: password},
	}
}

// PasswordSecretName is the Secret the cluster's password is read from.
func PasswordSecretName(c spec.Cluster) string {
	if c.PasswordSecret != "" {
		return c.PasswordSecret
	}
	return SecretName(c.Name)
}

// InstanceLabels are the labels of one instance's Pod.
func InstanceLabels(c spec.Cluster, in topology.Instance) map[string]string {
	l := ClusterSelector(c.Name)
	l[LabelName] = AppName
	l[LabelShard] = strconv.Itoa(in.Shard)
	l[LabelOrdinal] = strconv.Itoa(in.Ordinal)
	l[LabelRole] = string(in.Role)
	return l
}

// PVC is the data volume of one ordinal. It has no owner: it is kept when the
// cluster is deleted unless the delete request says otherwise.
func PVC(c spec.Cluster, in topology.Instance) *corev1.PersistentVolumeClaim {
	labels := InstanceLabels(c, in)
	delete(labels, LabelRole)
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: meta(c, PVCName(c.Name, in.Ordinal), labels, nil),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse(c.Persistence.Size),
			}},
		},
	}
	if c.Persistence.StorageClass != "" {
		sc := c.Persistence.StorageClass
		pvc.Spec.StorageClassName = &sc
	}
	return pvc
}

// Pod is the instance's Pod. The Redis process binds and announces the pod IP,
// keeps nodes.conf on its data volume (so a recreated Pod on the same claim
// keeps its node ID), and reads the password from the cluster's Secret.
func Pod(c spec.Cluster, in topology.Instance, pl Placement, owner metav1.OwnerReference) *corev1.Pod {
	labels := InstanceLabels(c, in)
	dataVolume := corev1.Volume{Name: "data"}
	if c.Persistence.Mode == spec.PersistenceNone {
		dataVolume.EmptyDir = &corev1.EmptyDirVolumeSource{}
	} else {
		dataVolume.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: PVCName(c.Name, in.Ordinal)}
	}
	grace := int64(30)
	pod := &corev1.Pod{
		ObjectMeta: meta(c, PodName(c.Name, in.Ordinal), labels, &owner),
		Spec: corev1.PodSpec{
			Hostname:                      PodName(c.Name, in.Ordinal),
			Subdomain:                     HeadlessServiceName(c.Name),
			TerminationGracePeriodSeconds: &grace,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			Containers: []corev1.Container{{
				Name:    "redis",
				Image:   c.Image,
				Command: []string{"redis-server"},
				Args: []string{
					ConfDir + "/redis.conf",
					"--bind", "$(POD_IP)",
					"--cluster-announce-ip", "$(POD_IP)",
					"--requirepass", "$(REDIS_PASSWORD)",
					"--masterauth", "$(REDIS_PASSWORD)",
				},
				Env: []corev1.EnvVar{
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
					{Name: "REDIS_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: PasswordSecretName(c)}, Key: PasswordKey,
					}}},
				},
				Ports: []corev1.ContainerPort{
					{Name: "redis", ContainerPort: RedisPort},
					{Name: "bus", ContainerPort: BusPort},
				},
				Resources: resources(c.Resources),
				VolumeMounts: []corev1.VolumeMount{
					{Name: "data", MountPath: DataDir},
					{Name: "config", MountPath: ConfDir, ReadOnly: true},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(RedisPort)}},
					PeriodSeconds: 2, FailureThreshold: 3,
				},
				LivenessProbe: &corev1.Probe{
					ProbeHandler:        corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(RedisPort)}},
					InitialDelaySeconds: 5, PeriodSeconds: 5, FailureThreshold: 6,
				},
			}},
			Volumes: []corev1.Volume{
				dataVolume,
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName(c.Name)},
				}}},
			},
			Affinity:                  affinity(c, in, pl),
			TopologySpreadConstraints: spread(c),
		},
	}
	pod.Annotations = map[string]string{AnnotationSpecHash: SpecHash(c)}
	if in.NodeID != "" {
		pod.Annotations[AnnotationNodeID] = in.NodeID
	}
	return pod
}

// SpecHash identifies what an instance runs (image and redis.conf): a Pod whose
// annotation differs needs an upgrade.
func SpecHash(c spec.Cluster) string {
	h := sha256.New()
	h.Write([]byte(c.Image))
	h.Write([]byte{0})
	h.Write([]byte(RedisConf(c)))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func affinity(c spec.Cluster, in topology.Instance, pl Placement) *corev1.Affinity {
	sameShard := &metav1.LabelSelector{MatchLabels: map[string]string{
		LabelCluster: c.Name, LabelShard: strconv.Itoa(in.Shard),
	}}
	zoneTerm := corev1.PodAffinityTerm{LabelSelector: sameShard, TopologyKey: c.Zones.Key}
	anti := &corev1.PodAntiAffinity{
		// Instances of one cluster spread over hosts where they can.
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 50,
			PodAffinityTerm: corev1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelCluster: c.Name}},
				TopologyKey:   "kubernetes.io/hostname",
			},
		}},
	}
	if pl.RequireDistinctZones {
		anti.RequiredDuringSchedulingIgnoredDuringExecution = []corev1.PodAffinityTerm{zoneTerm}
	} else {
		anti.PreferredDuringSchedulingIgnoredDuringExecution = append(anti.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: 100, PodAffinityTerm: zoneTerm})
	}
	return &corev1.Affinity{PodAntiAffinity: anti}
}

func spread(c spec.Cluster) []corev1.TopologySpreadConstraint {
	return []corev1.TopologySpreadConstraint{{
		MaxSkew:           1,
		TopologyKey:       c.Zones.Key,
		WhenUnsatisfiable: corev1.ScheduleAnyway,
		LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{LabelCluster: c.Name}},
	}}
}

func resources(r spec.Resources) corev1.ResourceRequirements {
	var out corev1.ResourceRequirements
	if r.CPU != "" {
		out.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(r.CPU)}
	}
	if r.Memory != "" {
		if out.Requests == nil {
			out.Requests = corev1.ResourceList{}
		}
		m := resource.MustParse(r.Memory)
		out.Requests[corev1.ResourceMemory] = m
		out.Limits = corev1.ResourceList{corev1.ResourceMemory: m}
	}
	return out
}

// HeadlessService gives every instance a stable DNS name.
func HeadlessService(c spec.Cluster, owner metav1.OwnerReference) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: meta(c, HeadlessServiceName(c.Name), nil, &owner),
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 ClusterSelector(c.Name),
			Ports:                    servicePorts(),
		},
	}
}

// ShardService selects the current primary of a shard by its role label.
func ShardService(c spec.Cluster, shard int, owner metav1.OwnerReference) *corev1.Service {
	sel := ClusterSelector(c.Name)
	sel[LabelShard] = strconv.Itoa(shard)
	sel[LabelRole] = string(topology.RolePrimary)
	labels := map[string]string{LabelShard: strconv.Itoa(shard)}
	return &corev1.Service{
		ObjectMeta: meta(c, ShardServiceName(c.Name, shard), labels, &owner),
		Spec:       corev1.ServiceSpec{Selector: sel, Ports: servicePorts()},
	}
}

func servicePorts() []corev1.ServicePort {
	return []corev1.ServicePort{
		{Name: "redis", Port: RedisPort, TargetPort: intstr.FromString("redis")},
		{Name: "bus", Port: BusPort, TargetPort: intstr.FromString("bus")},
	}
}

// OwnerReference makes obj the controller-less owner of the cluster's objects.
func OwnerReference(cm *corev1.ConfigMap) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: cm.Name, UID: cm.UID}
}

func meta(c spec.Cluster, name string, labels map[string]string, owner *metav1.OwnerReference) metav1.ObjectMeta {
	l := ClusterSelector(c.Name)
	l[LabelName] = AppName
	for k, v := range labels {
		l[k] = v
	}
	m := metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: l}
	if owner != nil {
		m.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return m
}

// Instance manager: the dayops binary, copied into each Redis Pod by an init
// container, runs redis-server as `dayops instance run -- redis-server ...`
// and fences a restarted former primary whose data may be behind its
// replicas (internal/instance).
const (
	// InstanceManagerOff as the instance image renders Pods without it.
	InstanceManagerOff = "none"
	// InstanceManagerDir is the emptyDir the init container installs into.
	InstanceManagerDir = "/dayops"
	// InstanceStatusPort is where the manager answers its status (the
	// fence record) on the Pod IP; InstanceStatusPortName names the port.
	InstanceStatusPort     = 9121
	InstanceStatusPortName = "dayops-status"
	instanceManagerVolume  = "dayops-bin"
	instanceManagerInit    = "install-dayops"
)

// GoneReplicasEnv names the node IDs (comma-separated) of replicas gone
// with their data, for the instance manager's fence (dayops instance run
// --gone-replicas): a restarted former primary does not wait for them.
const GoneReplicasEnv = "DAYOPS_GONE_REPLICAS"

// WithGoneReplicas sets GoneReplicasEnv on the Pod's redis container
// (nothing when ids is empty).
func WithGoneReplicas(pod *corev1.Pod, ids []string) *corev1.Pod {
	if len(ids) == 0 {
		return pod
	}
	for i := range pod.Spec.Containers {
		if ct := &pod.Spec.Containers[i]; ct.Name == "redis" {
			ct.Env = append(ct.Env, corev1.EnvVar{Name: GoneReplicasEnv, Value: strings.Join(ids, ",")})
		}
	}
	return pod
}

// WithInstanceManager wraps the Pod's redis container with the instance
// manager from image (an image of the dayops binary): an init container
// installs the binary into a shared emptyDir, and redis-server is started by
// it. An empty image or InstanceManagerOff leaves the Pod as it is. The spec
// hash is not changed: the manager does not change what Redis runs.
func WithInstanceManager(pod *corev1.Pod, image string) *corev1.Pod {
	if image == "" || image == InstanceManagerOff {
		return pod
	}
	mount := corev1.VolumeMount{Name: instanceManagerVolume, MountPath: InstanceManagerDir}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: instanceManagerVolume,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	pod.Spec.InitContainers = append([]corev1.Container{{
		Name: instanceManagerInit, Image: image,
		Command:      []string{"dayops", "instance", "install", "--to", InstanceManagerDir},
		VolumeMounts: []corev1.VolumeMount{mount},
	}}, pod.Spec.InitContainers...)
	for i := range pod.Spec.Containers {
		ct := &pod.Spec.Containers[i]
		if ct.Name != "redis" {
			continue
		}
		ct.Command = append([]string{InstanceManagerDir + "/dayops", "instance", "run",
			"--status-addr", "$(POD_IP):" + strconv.Itoa(InstanceStatusPort), "--"}, ct.Command...)
		ct.VolumeMounts = append(ct.VolumeMounts, mount)
		ct.Ports = append(ct.Ports, corev1.ContainerPort{Name: InstanceStatusPortName, ContainerPort: InstanceStatusPort})
	}
	return pod
}
