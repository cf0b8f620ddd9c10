package kube

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// AnnotationSpec holds the JSON of the cluster's defaulted spec on its ConfigMap:
// Kubernetes is where a cluster's desired configuration lives.
const AnnotationSpec = "dayops.io/spec"

// AnnotationNextOrdinal on the ConfigMap is the lowest ordinal the cluster has
// never used. It only grows: an ordinal is never handed to a second node (its
// old volume may still hold another node's nodes.conf).
const AnnotationNextOrdinal = "dayops.io/next-ordinal"

// Stable error types of this package's non-retryable failures.
const (
	ErrTypeUnschedulable = "Unschedulable"
	ErrTypePodFailed     = "PodFailed"
	ErrTypeNotFound      = "ClusterNotFound"
	ErrTypeBadSpec       = "BadSpec"
)

// Activities are the Kubernetes activities of dayops.
type Activities struct {
	Client kubernetes.Interface
	Log    *slog.Logger
	// PollInterval is how often waits look again (default 500ms).
	PollInterval time.Duration
	// InstanceImage is the image of the dayops binary that Pods run
	// redis-server under (WithInstanceManager); empty or "none": without.
	InstanceImage string
	// Namespaces are the namespaces dayops manages: ListClusters of "all
	// namespaces" lists these one by one, which namespaced Roles allow.
	// Empty: every namespace, one cluster-wide list.
	Namespaces []string
}

// pod renders an instance's Pod, with the instance manager when configured.
func (a *Activities) pod(c spec.Cluster, in topology.Instance, pl render.Placement, owner metav1.OwnerReference) *corev1.Pod {
	return render.WithInstanceManager(render.Pod(c, in, pl, owner), a.InstanceImage)
}

func (a *Activities) poll() time.Duration {
	if a.PollInterval > 0 {
		return a.PollInterval
	}
	return 500 * time.Millisecond
}

// ListZonesInput names the node label of zones.
type ListZonesInput struct {
	ZoneKey string `json:"zoneKey"`
}

// ListZonesResult lists the zones that have at least one Ready, schedulable node.
type ListZonesResult struct {
	Zones        []string       `json:"zones"`
	NodesPerZone map[string]int `json:"nodesPerZone"`
}

// ListZones reports the zones with Ready, schedulable nodes.
func (a *Activities) ListZones(ctx context.Context, in ListZonesInput) (_ ListZonesResult, err error) {
	defer func() { err = classify(err) }()
	nodes, err := a.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return ListZonesResult{}, fmt.Errorf("list nodes: %w", err)
	}
	out := ListZonesResult{NodesPerZone: map[string]int{}}
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable || !nodeReady(&n) {
			continue
		}
		z := n.Labels[in.ZoneKey]
		if z == "" {
			continue
		}
		if out.NodesPerZone[z] == 0 {
			out.Zones = append(out.Zones, z)
		}
		out.NodesPerZone[z]++
	}
	slices.Sort(out.Zones)
	return out, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// EnsureConfigInput carries the defaulted spec.
type EnsureConfigInput struct {
	Spec spec.Cluster `json:"spec"`
	// NextOrdinal raises the ordinal high-water mark (never lowers it).
	NextOrdinal int `json:"nextOrdinal"`
}

// EnsureConfigResult identifies the owner of the cluster's objects.
type EnsureConfigResult struct {
	OwnerUID string `json:"ownerUid"`
}

// EnsureConfig creates or updates the cluster's ConfigMap (redis.conf and the
// spec annotation) and, when the spec names no Secret, a generated password
// Secret that is never rotated by a retry.
func (a *Activities) EnsureConfig(ctx context.Context, in EnsureConfigInput) (_ EnsureConfigResult, err error) {
	defer func() { err = classify(err) }()
	c := in.Spec
	specJSON, err := json.Marshal(c)
	if err != nil {
		return EnsureConfigResult{}, temporal.NewNonRetryableApplicationError("marshal spec", ErrTypeBadSpec, err)
	}
	want := render.ConfigMap(c)
	want.Annotations = map[string]string{AnnotationSpec: string(specJSON), AnnotationNextOrdinal: strconv.Itoa(in.NextOrdinal)}
	cms := a.Client.CoreV1().ConfigMaps(c.Namespace)
	cm, err := cms.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// AlreadyExists (a concurrent create) is retried like any error: the
		// next attempt's Get finds the ConfigMap and updates it.
		if cm, err = cms.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return EnsureConfigResult{}, fmt.Errorf("create configmap %s: %w", want.Name, err)
		}
	case err != nil:
		return EnsureConfigResult{}, fmt.Errorf("get configmap %s: %w", want.Name, err)
	default:
		next := max(in.NextOrdinal, nextOrdinal(cm))
		if cm.Data["redis.conf"] != want.Data["redis.conf"] || cm.Annotations[AnnotationSpec] != string(specJSON) ||
			nextOrdinal(cm) != next {
			cm.Data = want.Data
			if cm.Annotations == nil {
				cm.Annotations = map[string]string{}
			}
			cm.Annotations[AnnotationSpec] = string(specJSON)
			cm.Annotations[AnnotationNextOrdinal] = strconv.Itoa(next)
			if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				return EnsureConfigResult{}, fmt.Errorf("update configmap %s: %w", want.Name, err)
			}
		}
	}
	if c.PasswordSecret == "" {
		if err := a.ensureSecret(ctx, c, render.OwnerReference(cm)); err != nil {
			return EnsureConfigResult{}, err
		}
	}
	return EnsureConfigResult{OwnerUID: string(cm.UID)}, nil
}

func (a *Activities) ensureSecret(ctx context.Context, c spec.Cluster, owner metav1.OwnerReference) error {
	secrets := a.Client.CoreV1().Secrets(c.Namespace)
	if _, err := secrets.Get(ctx, render.SecretName(c.Name), metav1.GetOptions{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get secret %s: %w", render.SecretName(c.Name), err)
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return fmt.Errorf("generate password: %w", err)
	}
	_, err := secrets.Create(ctx, render.Secret(c, base64.RawURLEncoding.EncodeToString(buf), owner), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create secret %s: %w", render.SecretName(c.Name), err)
	}
	return nil
}

func nextOrdinal(cm *corev1.ConfigMap) int {
	n, _ := strconv.Atoi(cm.Annotations[AnnotationNextOrdinal])
	return n
}

// owner returns the owner reference of a cluster's objects (its ConfigMap).
func (a *Activities) owner(ctx context.Context, namespace, cluster string) (metav1.OwnerReference, error) {
	cm, err := a.Client.CoreV1().ConfigMaps(namespace).Get(ctx, render.ConfigMapName(cluster), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return metav1.OwnerReference{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("cluster %s/%s has no configmap %s", namespace, cluster, render.ConfigMapName(cluster)), ErrTypeNotFound, err)
	}
	if err != nil {
		return metav1.OwnerReference{}, fmt.Errorf("get configmap %s: %w", render.ConfigMapName(cluster), err)
	}
	return render.OwnerReference(cm), nil
}

// EnsureInstancesInput lists the instances that must exist.
type EnsureInstancesInput struct {
	Spec      spec.Cluster        `json:"spec"`
	Instances []topology.Instance `json:"instances"`
	Placement render.Placement    `json:"placement"`
	// GoneReplicas are node IDs of replicas gone with their data, set on
	// every created Pod for its instance manager's fence
	// (render.WithGoneReplicas).
	GoneReplicas []string `json:"goneReplicas,omitempty"`
}

// EnsureInstancesResult says what was created (the rest already existed).
type EnsureInstancesResult struct {
	CreatedPods []string `json:"createdPods,omitempty"`
	CreatedPVCs []string `json:"createdPvcs,omitempty"`
}

// EnsureInstances creates the PVC and Pod of every listed instance that lacks
// them. An existing Pod is left as it is (an upgrade replaces Pods, not this).
func (a *Activities) EnsureInstances(ctx context.Context, in EnsureInstancesInput) (_ EnsureInstancesResult, err error) {
	defer func() { err = classify(err) }()
	c := in.Spec
	owner, err := a.owner(ctx, c.Namespace, c.Name)
	if err != nil {
		return EnsureInstancesResult{}, err
	}
	var out EnsureInstancesResult
	for _, inst := range in.Instances {
		if c.Persistence.Mode != spec.PersistenceNone {
			created, err := createIfAbsent(ctx, func(ctx context.Context) error {
				_, err := a.Client.CoreV1().PersistentVolumeClaims(c.Namespace).Create(ctx, render.PVC(c, inst), metav1.CreateOptions{})
				return err
			})
			if err != nil {
				return out, fmt.Errorf("create pvc %s: %w", render.PVCName(c.Name, inst.Ordinal), err)
			}
			if created {
				out.CreatedPVCs = append(out.CreatedPVCs, render.PVCName(c.Name, inst.Ordinal))
			}
		}
		created, err := createIfAbsent(ctx, func(ctx context.Context) error {
			_, err := a.Client.CoreV1().Pods(c.Namespace).Create(ctx, render.WithGoneReplicas(a.pod(c, inst, in.Placement, owner), in.GoneReplicas), metav1.CreateOptions{})
			return err
		})
		if err != nil {
			return out, fmt.Errorf("create pod %s: %w", render.PodName(c.Name, inst.Ordinal), err)
		}
		if created {
			out.CreatedPods = append(out.CreatedPods, render.PodName(c.Name, inst.Ordinal))
		}
		activity.RecordHeartbeat(ctx, inst.Ordinal)
	}
	return out, nil
}

func createIfAbsent(ctx context.Context, create func(context.Context) error) (bool, error) {
	err := create(ctx)
	if apierrors.IsAlreadyExists(err) {
		return false, nil
	}
	return err == nil, err
}

// InstanceStatus is what Kubernetes says of one instance.
type InstanceStatus struct {
	Ordinal  int           `json:"ordinal"`
	Shard    int           `json:"shard"`
	Pod      string        `json:"pod"`
	PodIP    string        `json:"podIp,omitempty"`
	Node     string        `json:"node,omitempty"`
	Zone     string        `json:"zone,omitempty"`
	Role     topology.Role `json:"role,omitempty"` // the role label
	Ready    bool          `json:"ready"`
	Image    string        `json:"image,omitempty"`
	SpecHash string        `json:"specHash,omitempty"`
	NodeID   string        `json:"nodeId,omitempty"` // the dayops.io/node-id annotation
	Phase    string        `json:"phase,omitempty"`
	Deleting bool          `json:"deleting,omitempty"`
}

// Addr is the instance's client address.
func (s InstanceStatus) Addr() string {
	if s.PodIP == "" {
		return ""
	}
	return s.PodIP + ":" + strconv.Itoa(render.RedisPort)
}

// WaitReadyInput names the instances to wait for.
type WaitReadyInput struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	Ordinals  []int  `json:"ordinals"`
	// ZoneKey is the node label of zones (default topology.kubernetes.io/zone).
	ZoneKey string `json:"zoneKey,omitempty"`
	// UnschedulableAfter fails the wait when a Pod has been unschedulable this
	// long (default 60s): the scheduler's reason is in the error.
	UnschedulableAfter time.Duration `json:"unschedulableAfter,omitempty"`
	// Stuck bounds crash loops and container errors (zero: the defaults).
	Stuck StuckPolicy `json:"stuck,omitempty"`
}

// WaitReadyResult describes the instances once all are Ready.
type WaitReadyResult struct {
	Instances []InstanceStatus `json:"instances"`
}

// WaitInstancesReady polls until every listed Pod is Ready, heartbeating the
// number that are. A Pod that cannot be scheduled for UnschedulableAfter, that
// failed, or that ClassifyPod finds stuck (crash loop, image pull or
// container config errors, under Stuck) ends the wait with a non-retryable
// error that names the Pod, the container, the reason and the last exit: such
// a Pod does not become Ready by waiting, so the create fails and an upgrade
// rolls back within seconds instead of hours.
func (a *Activities) WaitInstancesReady(ctx context.Context, in WaitReadyInput) (_ WaitReadyResult, err error) {
	defer func() { err = classify(err) }()
	if in.ZoneKey == "" {
		in.ZoneKey = spec.DefaultZoneKey
	}
	if in.UnschedulableAfter == 0 {
		in.UnschedulableAfter = 60 * time.Second
	}
	for {
		pods, err := a.listPods(ctx, in.Namespace, in.Cluster)
		if err != nil {
			return WaitReadyResult{}, err
		}
		all, err := a.statuses(ctx, pods, in.ZoneKey)
		if err != nil {
			return WaitReadyResult{}, err
		}
		byOrdinal := map[int]InstanceStatus{}
		for _, s := range all {
			byOrdinal[s.Ordinal] = s
		}
		podByName := map[string]*corev1.Pod{}
		for i := range pods {
			podByName[pods[i].Name] = &pods[i]
		}
		var out WaitReadyResult
		ready := 0
		for _, o := range in.Ordinals {
			s, ok := byOrdinal[o]
			if !ok {
				return WaitReadyResult{}, fmt.Errorf("pod %s does not exist", render.PodName(in.Cluster, o))
			}
			if err := a.podProblem(ctx, podByName[s.Pod], in.UnschedulableAfter, in.Stuck); err != nil {
				return WaitReadyResult{}, err
			}
			if s.Ready && s.PodIP != "" {
				ready++
			}
			out.Instances = append(out.Instances, s)
		}
		if ready == len(in.Ordinals) {
			return out, nil
		}
		activity.RecordHeartbeat(ctx, ready)
		select {
		case <-ctx.Done():
			return WaitReadyResult{}, ctx.Err()
		case <-time.After(a.poll()):
		}
	}
}

// podProblem returns a non-retryable error when the Pod cannot become Ready.
func (a *Activities) podProblem(ctx context.Context, pod *corev1.Pod, unschedulableAfter time.Duration, policy StuckPolicy) error {
	name := pod.Name
	if pod.Status.Phase == corev1.PodFailed {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("pod %s failed: %s %s", name, pod.Status.Reason, pod.Status.Message), ErrTypePodFailed, nil)
	}
	if stuck := ClassifyPod(pod, time.Now(), policy); stuck != nil {
		if stuck.Type == ErrTypeCrashLoop && !strings.Contains(stuck.LastTermination, ": ") {
			// No termination message: the container's last log lines say
			// why it exited (as terminationMessagePolicy
			// FallbackToLogsOnError would).
			if tail := a.previousLogTail(ctx, pod.Namespace, name, stuck.Container); tail != "" {
				stuck.LastTermination = strings.TrimPrefix(stuck.LastTermination+"; ", "; ") + "log: " + tail
			}
		}
		a.Log.WarnContext(ctx, "pod will not become ready", "pod", name, "container", stuck.Container, "reason", stuck.Reason, "restarts", stuck.Restarts)
		return temporal.NewNonRetryableApplicationError(stuck.Error(), stuck.Type, nil)
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable &&
			time.Since(pod.CreationTimestamp.Time) > unschedulableAfter {
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("pod %s cannot be scheduled: %s", name, c.Message), ErrTypeUnschedulable, nil)
		}
	}
	return nil
}

// previousLogTail returns the last lines the container's previous run wrote
// (best effort: "" when the logs cannot be read), with any line that may
// carry a password left out, since this text lands in workflow history.
func (a *Activities) previousLogTail(ctx context.Context, namespace, pod, container string) string {
	lines := int64(8)
	limit := int64(4096)
	b, err := a.Client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, Previous: true, TailLines: &lines, LimitBytes: &limit,
	}).DoRaw(ctx)
	if err != nil {
		return ""
	}
	return redactLog(string(b))
}

// redactLog keeps the non-empty lines of a log tail that do not mention a
// password directive, joined with " | ", at most 1 KiB.
func redactLog(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		low := strings.ToLower(l)
		if l == "" || strings.Contains(low, "requirepass") || strings.Contains(low, "masterauth") || strings.Contains(low, "password") {
			continue
		}
		keep = append(keep, l)
	}
	out := strings.Join(keep, " | ")
	if len(out) > 1024 {
		out = out[len(out)-1024:]
	}
	return out
}

// ObserveInput names a cluster.
type ObserveInput struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	ZoneKey   string `json:"zoneKey,omitempty"`
}

// ObserveResult is what Kubernetes holds of a cluster: its stored spec (nil
// when the cluster does not exist) and its instances, ordered by ordinal.
type ObserveResult struct {
	Spec      *spec.Cluster    `json:"spec,omitempty"`
	Instances []InstanceStatus `json:"instances"`
	// NextOrdinal is the ConfigMap's ordinal high-water mark.
	NextOrdinal int `json:"nextOrdinal"`
}

// Observe reads the cluster's spec and instances from Kubernetes.
func (a *Activities) Observe(ctx context.Context, in ObserveInput) (_ ObserveResult, err error) {
	defer func() { err = classify(err) }()
	var out ObserveResult
	cm, err := a.Client.CoreV1().ConfigMaps(in.Namespace).Get(ctx, render.ConfigMapName(in.Cluster), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return out, fmt.Errorf("get configmap %s: %w", render.ConfigMapName(in.Cluster), err)
	default:
		var s spec.Cluster
		if err := json.Unmarshal([]byte(cm.Annotations[AnnotationSpec]), &s); err != nil {
			return out, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("configmap %s: annotation %s: %v", cm.Name, AnnotationSpec, err), ErrTypeBadSpec, err)
		}
		out.Spec = &s
		out.NextOrdinal = nextOrdinal(cm)
	}
	zoneKey := in.ZoneKey
	if zoneKey == "" && out.Spec != nil {
		zoneKey = out.Spec.Zones.Key
	}
	if zoneKey == "" {
		zoneKey = spec.DefaultZoneKey
	}
	out.Instances, err = a.observe(ctx, in.Namespace, in.Cluster, zoneKey)
	return out, err
}

func (a *Activities) observe(ctx context.Context, namespace, cluster, zoneKey string) ([]InstanceStatus, error) {
	pods, err := a.listPods(ctx, namespace, cluster)
	if err != nil {
		return nil, err
	}
	return a.statuses(ctx, pods, zoneKey)
}

// listPods lists the cluster's Pods.
func (a *Activities) listPods(ctx context.Context, namespace, cluster string) ([]corev1.Pod, error) {
	pods, err := a.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(render.ClusterSelector(cluster)).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", cluster, err)
	}
	return pods.Items, nil
}

// statuses describes Pods as instances, ordered by ordinal.
func (a *Activities) statuses(ctx context.Context, pods []corev1.Pod, zoneKey string) ([]InstanceStatus, error) {
	zones := map[string]string{}
	var out []InstanceStatus
	for _, p := range pods {
		ord, err1 := strconv.Atoi(p.Labels[render.LabelOrdinal])
		shard, err2 := strconv.Atoi(p.Labels[render.LabelShard])
		if err := errors.Join(err1, err2); err != nil {
			a.Log.WarnContext(ctx, "pod with bad dayops labels ignored", "pod", p.Name, "err", err)
			continue
		}
		s := InstanceStatus{
			Ordinal: ord, Shard: shard, Pod: p.Name, PodIP: p.Status.PodIP, Node: p.Spec.NodeName,
			Role: topology.Role(p.Labels[render.LabelRole]), Ready: PodReady(&p), Phase: string(p.Status.Phase),
			SpecHash: p.Annotations[render.AnnotationSpecHash], NodeID: p.Annotations[render.AnnotationNodeID],
			Deleting: p.DeletionTimestamp != nil,
		}
		if len(p.Spec.Containers) > 0 {
			s.Image = p.Spec.Containers[0].Image
		}
		if p.Spec.NodeName != "" {
			z, ok := zones[p.Spec.NodeName]
			if !ok {
				n, err := a.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					return nil, fmt.Errorf("get node %s: %w", p.Spec.NodeName, err)
				}
				if err == nil {
					z = n.Labels[zoneKey]
				}
				zones[p.Spec.NodeName] = z
			}
			s.Zone = z
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y InstanceStatus) int { return x.Ordinal - y.Ordinal })
	return out, nil
}

// PodReady says whether p is Ready and not being deleted.
func PodReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// SetLabelsInput sets the live role (and, when known, the node ID annotation)
// of instances.
type SetLabelsInput struct {
	Namespace string                `json:"namespace"`
	Cluster   string                `json:"cluster"`
	Roles     map[int]topology.Role `json:"roles"`
	NodeIDs   map[int]string        `json:"nodeIds,omitempty"`
}

// SetLabelsResult lists the Pods whose role label changed.
type SetLabelsResult struct {
	Changed []string `json:"changed,omitempty"`
}

// SetRoleLabels patches the role label (and node-id annotation) of every
// listed instance whose Pod says otherwise, so per-shard Services follow the
// primaries at once.
func (a *Activities) SetRoleLabels(ctx context.Context, in SetLabelsInput) (_ SetLabelsResult, err error) {
	defer func() { err = classify(err) }()
	var out SetLabelsResult
	ordinals := make([]int, 0, len(in.Roles))
	for o := range in.Roles {
		ordinals = append(ordinals, o)
	}
	slices.Sort(ordinals)
	pods := a.Client.CoreV1().Pods(in.Namespace)
	for _, o := range ordinals {
		name := render.PodName(in.Cluster, o)
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("get pod %s: %w", name, err)
		}
		role := string(in.Roles[o])
		nodeID := in.NodeIDs[o]
		if p.Labels[render.LabelRole] == role && (nodeID == "" || p.Annotations[render.AnnotationNodeID] == nodeID) {
			continue
		}
		patch := map[string]any{"metadata": map[string]any{"labels": map[string]string{render.LabelRole: role}}}
		if nodeID != "" {
			patch["metadata"].(map[string]any)["annotations"] = map[string]string{render.AnnotationNodeID: nodeID}
		}
		body, _ := json.Marshal(patch)
		if _, err := pods.Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{}); apierrors.IsNotFound(err) {
			continue // deleted since the Get: nothing to label
		} else if err != nil {
			return out, fmt.Errorf("label pod %s role=%s: %w", name, role, err)
		}
		if p.Labels[render.LabelRole] != role {
			out.Changed = append(out.Changed, name)
		}
	}
	return out, nil
}

// EnsureServicesInput lists the shards that must have a primary Service.
type EnsureServicesInput struct {
	Spec   spec.Cluster `json:"spec"`
	Shards []int        `json:"shards"`
}

// EnsureServices creates the headless Service and one Service per listed
// shard, and deletes the Services of shards no longer listed.
func (a *Activities) EnsureServices(ctx context.Context, in EnsureServicesInput) (err error) {
	defer func() { err = classify(err) }()
	c := in.Spec
	owner, err := a.owner(ctx, c.Namespace, c.Name)
	if err != nil {
		return err
	}
	svcs := a.Client.CoreV1().Services(c.Namespace)
	want := []*corev1.Service{render.HeadlessService(c, owner)}
	for _, s := range in.Shards {
		want = append(want, render.ShardService(c, s, owner))
	}
	for _, svc := range want {
		if _, err := svcs.Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create service %s: %w", svc.Name, err)
		}
	}
	existing, err := svcs.List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(render.ClusterSelector(c.Name)).String()})
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	for _, svc := range existing.Items {
		shard, err := strconv.Atoi(svc.Labels[render.LabelShard])
		if err != nil || slices.Contains(in.Shards, shard) {
			continue
		}
		if err := svcs.Delete(ctx, svc.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete service %s: %w", svc.Name, err)
		}
	}
	return nil
}

// DeleteInstancesInput names instances to remove.
type DeleteInstancesInput struct {
	Namespace     string `json:"namespace"`
	Cluster       string `json:"cluster"`
	Ordinals      []int  `json:"ordinals"`
	DeleteVolumes bool   `json:"deleteVolumes"`
}

// DeleteInstances deletes the Pods (waiting until they are gone) and, when
// asked, the PVCs of the listed ordinals. NotFound is success.
func (a *Activities) DeleteInstances(ctx context.Context, in DeleteInstancesInput) (err error) {
	defer func() { err = classify(err) }()
	pods := a.Client.CoreV1().Pods(in.Namespace)
	for _, o := range in.Ordinals {
		if err := pods.Delete(ctx, render.PodName(in.Cluster, o), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete pod %s: %w", render.PodName(in.Cluster, o), err)
		}
	}
	for _, o := range in.Ordinals {
		if err := a.waitGone(ctx, func(ctx context.Context) error {
			_, err := pods.Get(ctx, render.PodName(in.Cluster, o), metav1.GetOptions{})
			return err
		}); err != nil {
			return fmt.Errorf("wait for pod %s to go: %w", render.PodName(in.Cluster, o), err)
		}
		if in.DeleteVolumes {
			err := a.Client.CoreV1().PersistentVolumeClaims(in.Namespace).Delete(ctx, render.PVCName(in.Cluster, o), metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete pvc %s: %w", render.PVCName(in.Cluster, o), err)
			}
		}
	}
	return nil
}

// DeleteClusterObjectsInput names a cluster to delete.
type DeleteClusterObjectsInput struct {
	Namespace     string `json:"namespace"`
	Cluster       string `json:"cluster"`
	DeleteVolumes bool   `json:"deleteVolumes"`
}

// DeleteClusterObjects deletes every object the cluster owns: Pods (waiting
// until they are gone), Services, the generated Secret and the ConfigMap, and
// the PVCs when asked.
func (a *Activities) DeleteClusterObjects(ctx context.Context, in DeleteClusterObjectsInput) (err error) {
	defer func() { err = classify(err) }()
	sel := labels.SelectorFromSet(render.ClusterSelector(in.Cluster)).String()
	core := a.Client.CoreV1()
	if err := core.Pods(in.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: sel}); err != nil {
		return fmt.Errorf("delete pods: %w", err)
	}
	if err := a.waitGone(ctx, func(ctx context.Context) error {
		l, err := core.Pods(in.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		if len(l.Items) > 0 {
			activity.RecordHeartbeat(ctx, len(l.Items))
			return nil
		}
		return apierrors.NewNotFound(corev1.Resource("pods"), in.Cluster)
	}); err != nil {
		return fmt.Errorf("wait for pods to go: %w", err)
	}
	svcs, err := core.Services(in.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	for _, s := range svcs.Items {
		if err := core.Services(in.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete service %s: %w", s.Name, err)
		}
	}
	if in.DeleteVolumes {
		if err := core.PersistentVolumeClaims(in.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: sel}); err != nil {
			return fmt.Errorf("delete pvcs: %w", err)
		}
	}
	for _, del := range []struct {
		what string
		fn   func() error
	}{
		{"secret " + render.SecretName(in.Cluster), func() error {
			return core.Secrets(in.Namespace).Delete(ctx, render.SecretName(in.Cluster), metav1.DeleteOptions{})
		}},
		{"configmap " + render.ConfigMapName(in.Cluster), func() error {
			return core.ConfigMaps(in.Namespace).Delete(ctx, render.ConfigMapName(in.Cluster), metav1.DeleteOptions{})
		}},
	} {
		if err := del.fn(); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s: %w", del.what, err)
		}
	}
	return nil
}

// waitGone polls get until it returns NotFound.
func (a *Activities) waitGone(ctx context.Context, get func(context.Context) error) error {
	for {
		err := get(ctx)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(a.poll()):
		}
	}
}

// Passwords reads clusters' passwords from their Secrets. It is deliberately
// not an activity (a password must never enter workflow history): the Redis
// activities use it to authenticate.
type Passwords struct {
	Client kubernetes.Interface
}

// Password returns the password in Secret namespace/name (key "password").
func (p Passwords) Password(ctx context.Context, namespace, name string) (string, error) {
	s, err := p.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("get secret %s/%s: %w", namespace, name, err)
	}
	if !spec.SecretUsable(s.Labels) {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("secret %s/%s is not opted in: dayops uses only Secrets it created or that carry the label %s=true",
				namespace, name, spec.LabelPasswordSecret), ErrTypeBadSpec, nil)
	}
	pw, ok := s.Data[render.PasswordKey]
	if !ok || len(pw) == 0 {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("secret %s/%s has no %q key", namespace, name, render.PasswordKey), ErrTypeBadSpec, nil)
	}
	return string(pw), nil
}

// ListClustersInput narrows the list to a namespace ("" for all).
type ListClustersInput struct {
	Namespace string `json:"namespace,omitempty"`
}

// ListClustersResult lists the clusters dayops manages, by namespace and name.
type ListClustersResult struct {
	Clusters []ObserveResult `json:"clusters"`
}

// ListClusters lists every cluster (a dayops ConfigMap with a spec) and its
// instances.
func (a *Activities) ListClusters(ctx context.Context, in ListClustersInput) (_ ListClustersResult, err error) {
	defer func() { err = classify(err) }()
	cms, err := ListClusterConfigMaps(ctx, a.Client, in.Namespace, a.Namespaces)
	if err != nil {
		return ListClustersResult{}, err
	}
	var out ListClustersResult
	for _, cm := range cms {
		if _, ok := cm.Annotations[AnnotationSpec]; !ok {
			continue
		}
		r, err := a.Observe(ctx, ObserveInput{Namespace: cm.Namespace, Cluster: cm.Labels[render.LabelCluster]})
		if err != nil {
			return out, err
		}
		if r.Spec != nil {
			out.Clusters = append(out.Clusters, r)
		}
	}
	slices.SortFunc(out.Clusters, func(x, y ObserveResult) int {
		if c := strings.Compare(x.Spec.Namespace, y.Spec.Namespace); c != 0 {
			return c
		}
		return strings.Compare(x.Spec.Name, y.Spec.Name)
	})
	return out, nil
}

// ListClusterConfigMaps lists the ConfigMaps dayops manages in namespace,
// or, for namespace "", in each of managed (every namespace when managed is
// empty: a cluster-wide list, which namespaced Roles do not allow).
func ListClusterConfigMaps(ctx context.Context, c kubernetes.Interface, namespace string, managed []string) ([]corev1.ConfigMap, error) {
	namespaces := []string{namespace}
	if namespace == "" && len(managed) > 0 {
		namespaces = managed
	}
	sel := labels.SelectorFromSet(map[string]string{render.LabelManagedBy: render.ManagedBy}).String()
	var out []corev1.ConfigMap
	for _, ns := range namespaces {
		cms, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			if ns == "" {
				return nil, fmt.Errorf("list configmaps in all namespaces: %w", err)
			}
			return nil, fmt.Errorf("list configmaps in namespace %s: %w", ns, err)
		}
		out = append(out, cms.Items...)
	}
	return out, nil
}

// SpecHashes is the instance spec hash of each Pod, by ordinal; a Pod being
// deleted has none (it never counts as up to date). Admission and the
// Upgrade workflow both read up-to-dateness through it.
func SpecHashes(pods []InstanceStatus) map[int]string {
	out := make(map[int]string, len(pods))
	for _, p := range pods {
		if !p.Deleting {
			out[p.Ordinal] = p.SpecHash
		} else {
			out[p.Ordinal] = ""
		}
	}
	return out
}
