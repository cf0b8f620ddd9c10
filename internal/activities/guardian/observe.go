package guardian

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/activities/guardian/opstart"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// Passwords reads a cluster's password from its Secret.
type Passwords interface {
	Password(ctx context.Context, namespace, secret string) (string, error)
}

// Activities are the guardian's activities.
type Activities struct {
	Kube      kubernetes.Interface
	Passwords Passwords
	// Temporal tells whether the cluster runs an operation and starts
	// recover operations (nil: no operation is ever seen running).
	Temporal client.Client
	// TaskQueue is where recover operations start.
	TaskQueue string
	Log       *slog.Logger

	mu    sync.Mutex
	pools map[string]*pool
	// views is what the observations of each cluster keep between ticks
	// (see observeRedis), by namespace/cluster.
	views map[string]viewMemory
	// holds is what the hold sweeps of each cluster keep (sweepHolds).
	holds map[string]holdMemory
	// HoldSweep is how often the watch looks for failover holds a slot
	// move left behind (0: DefaultHoldSweep; negative: never).
	HoldSweep time.Duration

	// Metrics receives the guardian's metrics (nil: none).
	Metrics *Metrics
}

type pool struct {
	password string
	p        *clusteradmin.ClientPool
}

func (a *Activities) clients(ctx context.Context, namespace, secret string) (*clusteradmin.ClientPool, error) {
	pw, err := a.Passwords.Password(ctx, namespace, secret)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pools == nil {
		a.pools = map[string]*pool{}
	}
	key := namespace + "/" + secret
	p, ok := a.pools[key]
	if !ok || p.password != pw {
		if ok {
			p.p.Close()
		}
		p = &pool{password: pw, p: clusteradmin.NewClientPool(clientOptions(pw))}
		a.pools[key] = p
	}
	return p.p, nil
}

func (a *Activities) memory(namespace, cluster string) viewMemory {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.views[namespace+"/"+cluster]
	m.flagged = maps.Clone(m.flagged)
	m.silent = maps.Clone(m.silent)
	return m
}

func (a *Activities) remember(namespace, cluster string, m viewMemory) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.views == nil {
		a.views = map[string]viewMemory{}
	}
	a.views[namespace+"/"+cluster] = m
}

func (a *Activities) forget(namespace, cluster string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.views, namespace+"/"+cluster)
	delete(a.holds, namespace+"/"+cluster)
}

func shardOf(pods []guard.Pod, ordinal int) int {
	for _, p := range pods {
		if p.Ordinal == ordinal {
			return p.Shard
		}
	}
	return -1
}

// ObserveInput names a cluster.
type ObserveInput struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	// Known is the guardian's memory (guard.Input.Known).
	Known map[int]guard.Member `json:"known,omitempty"`
	// Relabel makes stale role labels true on the spot.
	Relabel bool `json:"relabel,omitempty"`
	// IgnoreOperation: the caller is the running operation (recover,
	// switchover) and wants the assessment without the Busy state.
	IgnoreOperation bool `json:"ignoreOperation,omitempty"`
}

// Observation is one look at a cluster.
type Observation struct {
	// Gone is true when the cluster no longer exists (its ConfigMap is gone).
	Gone       bool             `json:"gone,omitempty"`
	Spec       *spec.Cluster    `json:"spec,omitempty"`
	Input      guard.Input      `json:"input"`
	Assessment guard.Assessment `json:"assessment"`
	// Volumes are the ordinals that have a PVC.
	Volumes []int `json:"volumes,omitempty"`
	// Zones are the zones with a Ready, schedulable Kubernetes node.
	Zones []string `json:"zones,omitempty"`
	// Relabelled lists the Pods whose role label this observation changed.
	Relabelled []string  `json:"relabelled,omitempty"`
	At         time.Time `json:"at"`
	// Commands is the number of Redis commands this observation sent;
	// FullViews how many of them were CLUSTER NODES, and Reference the
	// ordinal whose CLUSTER NODES described the others (-1: none).
	Commands  int `json:"commands"`
	FullViews int `json:"fullViews,omitempty"`
	Reference int `json:"reference,omitempty"`
	// Fences are the recent fence records of instances that restarted
	// within FenceLookback (see readFence).
	Fences []FenceReport `json:"fences,omitempty"`
}

// Pod is ordinal's Pod (false when it has none).
func (o Observation) Pod(ordinal int) (guard.Pod, bool) {
	for _, p := range o.Input.Pods {
		if p.Ordinal == ordinal {
			return p, true
		}
	}
	return guard.Pod{}, false
}

// Addr is the address of ordinal's Pod ("" when it has none).
func (o Observation) Addr(ordinal int) string {
	p, _ := o.Pod(ordinal)
	return p.Addr
}

// LiveAddrs are the addresses of every reachable node that is in the cluster.
func (o Observation) LiveAddrs() []string {
	var out []string
	for _, p := range o.Input.Pods {
		if n, ok := o.Input.Nodes[p.Ordinal]; ok && n.Reachable && n.KnownNodes > 1 && p.Addr != "" {
			out = append(out, p.Addr)
		}
	}
	return out
}

// ObserveGuard looks at the cluster once.
func (a *Activities) ObserveGuard(ctx context.Context, in ObserveInput) (Observation, error) {
	return a.observe(ctx, in)
}

func (a *Activities) observe(ctx context.Context, in ObserveInput) (Observation, error) {
	out := Observation{At: time.Now()}
	// The running operation is asked first, before the spec and the Pods:
	// asked last, an operation that ended in between (a scale-in that
	// deleted its drained Pods, then wrote the smaller spec) would leave an
	// observation of the old spec without its Pods and no operation
	// running, a loss that is none, and the guardian would start a recover.
	// Asked first, an operation that starts in between is caught by
	// StartRecover, which refuses to start while another one holds the
	// cluster.
	var running string
	if !in.IgnoreOperation {
		var err error
		if running, err = a.runningOperation(ctx, in.Namespace, in.Cluster); err != nil {
			return out, err
		}
	}
	c, err := a.readSpec(ctx, in.Namespace, in.Cluster)
	if err != nil || c == nil {
		out.Gone = err == nil
		if out.Gone {
			a.forget(in.Namespace, in.Cluster)
		}
		return out, err
	}
	out.Spec = c
	gi := guard.Input{Shards: c.Shards, ReplicasPerShard: c.ReplicasPerShard, Known: in.Known, Nodes: map[int]guard.Node{}, Operation: running}
	status, err := a.readKube(ctx, in.Cluster, in.Namespace, *c, &gi, &out)
	if err != nil {
		return out, err
	}
	cl, err := a.clients(ctx, in.Namespace, render.PasswordSecretName(*c))
	if err != nil {
		return out, err
	}
	a.observeInstances(ctx, cl, in, status, &gi, &out)
	out.Input = gi
	out.Assessment = guard.Assess(gi)
	if in.Relabel && len(out.Assessment.Relabel) > 0 {
		if out.Relabelled, err = a.relabel(ctx, in.Namespace, in.Cluster, out.Assessment); err != nil {
			return out, err
		}
	}
	return out, nil
}

// readSpec reads the cluster's spec from its ConfigMap (nil, nil: the
// cluster is gone).
func (a *Activities) readSpec(ctx context.Context, namespace, cluster string) (*spec.Cluster, error) {
	cm, err := a.Kube.CoreV1().ConfigMaps(namespace).Get(ctx, render.ConfigMapName(cluster), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get configmap: %w", err)
	}
	var c spec.Cluster
	if err := json.Unmarshal([]byte(cm.Annotations[kube.AnnotationSpec]), &c); err != nil {
		return nil, fmt.Errorf("configmap %s: annotation %s: %w", cm.Name, kube.AnnotationSpec, err)
	}
	return &c, nil
}

// readKube fills the guard input's Pods and Orphans and the observation's
// Zones and Volumes from Kubernetes, and returns each ordinal's instance
// manager status address.
func (a *Activities) readKube(ctx context.Context, cluster, namespace string, c spec.Cluster, gi *guard.Input, out *Observation) (map[int]string, error) {
	core := a.Kube.CoreV1()
	zoneKey := c.Zones.Key
	if zoneKey == "" {
		zoneKey = spec.DefaultZoneKey
	}
	sel := labels.SelectorFromSet(render.ClusterSelector(cluster)).String()
	pods, err := core.Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	nodes, err := core.Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	nodeReady, nodeZone := map[string]bool{}, map[string]string{}
	for _, n := range nodes.Items {
		ready := false
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				ready = cond.Status == corev1.ConditionTrue
			}
		}
		nodeReady[n.Name], nodeZone[n.Name] = ready, n.Labels[zoneKey]
		if ready && !n.Spec.Unschedulable && n.Labels[zoneKey] != "" && !slices.Contains(out.Zones, n.Labels[zoneKey]) {
			out.Zones = append(out.Zones, n.Labels[zoneKey])
		}
	}
	slices.Sort(out.Zones)
	status := map[int]string{}
	for _, p := range pods.Items {
		ord, err1 := strconv.Atoi(p.Labels[render.LabelOrdinal])
		shard, err2 := strconv.Atoi(p.Labels[render.LabelShard])
		if errors.Join(err1, err2) != nil {
			continue
		}
		gp := guard.Pod{Ordinal: ord, Shard: shard, Name: p.Name, Node: p.Spec.NodeName, NodeReady: nodeReady[p.Spec.NodeName],
			Zone: nodeZone[p.Spec.NodeName], Role: topology.Role(p.Labels[render.LabelRole]), NodeID: p.Annotations[render.AnnotationNodeID],
			Deleting: p.DeletionTimestamp != nil}
		if p.Status.PodIP != "" {
			gp.Addr = p.Status.PodIP + ":" + strconv.Itoa(render.RedisPort)
		}
		if a := StatusAddr(&p); a != "" {
			status[ord] = a
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady {
				gp.Ready = cond.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil
			}
		}
		gi.Pods = append(gi.Pods, gp)
	}
	slices.SortFunc(gi.Pods, func(x, y guard.Pod) int { return x.Ordinal - y.Ordinal })
	if c.Persistence.Mode != spec.PersistenceNone {
		if err := a.readVolumes(ctx, namespace, sel, gi, out); err != nil {
			return nil, err
		}
	}
	return status, nil
}

// readVolumes lists the cluster's PVCs: the observation's Volumes, and the
// guard input's Orphans (volumes whose Pod is gone).
func (a *Activities) readVolumes(ctx context.Context, namespace, sel string, gi *guard.Input, out *Observation) error {
	pvcs, err := a.Kube.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("list pvcs: %w", err)
	}
	gi.Orphans = map[int]int{}
	for _, v := range pvcs.Items {
		ord, err1 := strconv.Atoi(v.Labels[render.LabelOrdinal])
		shard, err2 := strconv.Atoi(v.Labels[render.LabelShard])
		if errors.Join(err1, err2) != nil || v.DeletionTimestamp != nil {
			continue
		}
		out.Volumes = append(out.Volumes, ord)
		if !slices.ContainsFunc(gi.Pods, func(p guard.Pod) bool { return p.Ordinal == ord }) {
			gi.Orphans[ord] = shard
		}
	}
	slices.Sort(out.Volumes)
	return nil
}

// observeInstances asks every Pod's redis-server (observeRedis) and the
// fence record of each instance that restarted recently.
func (a *Activities) observeInstances(ctx context.Context, cl *clusteradmin.ClientPool, in ObserveInput, status map[int]string, gi *guard.Input, out *Observation) {
	var targets []target
	for _, p := range gi.Pods {
		if p.Addr != "" {
			targets = append(targets, target{Ordinal: p.Ordinal, Addr: p.Addr})
		}
	}
	mem := a.memory(in.Namespace, in.Cluster)
	ro := observeRedis(ctx, cl, targets, &mem)
	a.remember(in.Namespace, in.Cluster, mem)
	gi.Nodes = ro.Nodes
	out.Commands, out.FullViews, out.Reference = ro.Commands, ro.FullViews, ro.Reference
	// Only an instance that restarted recently can have a fresh fence
	// record: the others cost no request.
	var mu sync.Mutex
	parallel(len(targets), func(i int) {
		o := targets[i].Ordinal
		if !gi.Nodes[o].Reachable || ro.Uptime[o] >= FenceLookback || status[o] == "" {
			return
		}
		if f, fenced := readFence(ctx, status[o], o, shardOf(gi.Pods, o), out.At); fenced {
			mu.Lock()
			out.Fences = append(out.Fences, f)
			mu.Unlock()
		}
	})
	slices.SortFunc(out.Fences, func(x, y FenceReport) int { return x.Ordinal - y.Ordinal })
}

// relabel patches the role label (and node ID annotation) of every Pod the
// assessment found stale.
func (a *Activities) relabel(ctx context.Context, namespace, cluster string, as guard.Assessment) ([]string, error) {
	var changed []string
	pods := a.Kube.CoreV1().Pods(namespace)
	for _, o := range slices.Sorted(maps.Keys(as.Relabel)) {
		md := map[string]any{"labels": map[string]string{render.LabelRole: string(as.Relabel[o])}}
		if id := as.NodeIDs[o]; id != "" {
			md["annotations"] = map[string]string{render.AnnotationNodeID: id}
		}
		body, _ := json.Marshal(map[string]any{"metadata": md})
		name := render.PodName(cluster, o)
		if _, err := pods.Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return changed, fmt.Errorf("label pod %s role=%s: %w", name, as.Relabel[o], err)
		}
		changed = append(changed, name)
	}
	return changed, nil
}

// runningOperation returns the operation ID (or workflow type) of the
// cluster's running operation, "" when none runs.
func (a *Activities) runningOperation(ctx context.Context, namespace, cluster string) (string, error) {
	if a.Temporal == nil {
		return "", nil
	}
	d, err := a.Temporal.DescribeWorkflowExecution(ctx, opstart.WorkflowID(namespace, cluster), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("describe the cluster's operation: %w", err)
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return "", nil
	}
	name := info.GetType().GetName()
	if f := info.GetMemo().GetFields()["operationId"]; f != nil {
		var id string
		if json.Unmarshal(f.GetData(), &id) == nil && id != "" {
			name += " " + id
		}
	}
	return name, nil
}

// EnsureReadServicesInput names a cluster.
type EnsureReadServicesInput struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	Shards    int    `json:"shards"`
}

// ReadServiceName is the Service of a shard's replicas: "<cluster>-shard-N-ro".
func ReadServiceName(cluster string, shard int) string {
	return render.ShardServiceName(cluster, shard) + "-ro"
}

// EnsureReadServices creates, for every shard, a read-only Service that
// selects the shard's replicas by role label (so it follows failovers like
// the primary Service), and deletes those of shards that no longer exist.
func (a *Activities) EnsureReadServices(ctx context.Context, in EnsureReadServicesInput) error {
	core := a.Kube.CoreV1()
	cm, err := core.ConfigMaps(in.Namespace).Get(ctx, render.ConfigMapName(in.Cluster), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get configmap: %w", err)
	}
	owner := render.OwnerReference(cm)
	svcs := core.Services(in.Namespace)
	for sh := range in.Shards {
		sel := render.ClusterSelector(in.Cluster)
		sel[render.LabelShard] = strconv.Itoa(sh)
		sel[render.LabelRole] = string(topology.RoleReplica)
		l := render.ClusterSelector(in.Cluster)
		l[render.LabelName] = render.AppName
		l[render.LabelShard] = strconv.Itoa(sh)
		l["dayops.io/service"] = "read-only"
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: ReadServiceName(in.Cluster, sh), Namespace: in.Namespace, Labels: l,
				OwnerReferences: []metav1.OwnerReference{owner}},
			Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{
				{Name: "redis", Port: render.RedisPort, TargetPort: intstr.FromString("redis")}}},
		}
		if _, err := svcs.Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create service %s: %w", svc.Name, err)
		}
	}
	return nil
}
