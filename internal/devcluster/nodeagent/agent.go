package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/devcluster/nodeagent/imagemap"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/ipam"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podenv"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podproc"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podworker"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/volumes"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
)

// Agent runs the nodes of one configuration. Create it with New and call
// Run once.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	cs     kubernetes.Interface
	images imagemap.Map
	ipam   *ipam.IPAM
	procs  *podproc.Runner
	ca     *clusterCA
	host   *podworker.Host // what the pod workers share

	nodes      []nodeInfo
	nodeByName map[string]nodeInfo
	nodeUIDs   map[string]types.UID
	recorders  map[string]record.EventRecorder
	bootID     string
	kernel     string
	podsDir    string

	mu      sync.Mutex
	workers map[types.UID]*podworker.Worker
	byName  map[string]*podworker.Worker // namespace/name -> worker
	wg      sync.WaitGroup
}

// New validates cfg, loads the image map, the cluster CA and the
// kubeconfig, and returns an agent ready to Run.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node agent config: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Helper) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable for the pod-exec helper: %w", err)
		}
		cfg.Helper = []string{exe, "dev", "agent", "pod-exec"}
	}
	if cfg.DayopsBinary != "" {
		// Pods run in directories of their own: pin the path now.
		abs, err := filepath.Abs(cfg.DayopsBinary)
		if err != nil {
			return nil, fmt.Errorf("dayops binary %s: %w", cfg.DayopsBinary, err)
		}
		cfg.DayopsBinary = abs
	}
	images, err := imagemap.Load(cfg.ImageMapFile)
	if err != nil {
		return nil, err
	}
	images = images.WithDayops(dayopsBinary(cfg.DayopsBinary))
	ca, err := loadCA(cfg.PKIDir)
	if err != nil {
		return nil, err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	rc.QPS, rc.Burst = 50, 100
	rc.UserAgent = "dayops-node-agent"
	if cfg.APIServer == "" {
		u, err := url.Parse(rc.Host)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("kubeconfig %s: server %q is not a URL: %v", cfg.Kubeconfig, rc.Host, err)
		}
		cfg.APIServer = u.Host
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return newAgent(cfg, cs, images, ca)
}

func newAgent(cfg Config, cs kubernetes.Interface, images imagemap.Map, ca *clusterCA) (*Agent, error) {
	stateDir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	cfg.StateDir = stateDir
	a := &Agent{
		cfg:        cfg,
		log:        cfg.Logger,
		cs:         cs,
		images:     images,
		procs:      &podproc.Runner{Helper: cfg.Helper, Images: images},
		ca:         ca,
		nodes:      cfg.nodes(),
		nodeByName: map[string]nodeInfo{},
		nodeUIDs:   map[string]types.UID{},
		recorders:  map[string]record.EventRecorder{},
		podsDir:    filepath.Join(stateDir, "pods"),
		workers:    map[types.UID]*podworker.Worker{},
		byName:     map[string]*podworker.Worker{},
	}
	pools := map[string]netip.Prefix{}
	for _, n := range a.nodes {
		a.nodeByName[n.Name] = n
		pools[n.Name] = n.Pool
	}
	if err := os.MkdirAll(a.podsDir, 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	a.ipam, err = ipam.New(filepath.Join(stateDir, "ipam.json"), pools)
	if err != nil {
		return nil, err
	}
	getter := clientGetter{cs: cs}
	a.host = &podworker.Host{
		CS: cs, Log: cfg.Logger, Getter: getter, Images: images, IPAM: a.ipam, Procs: a.procs,
		Volumes:   &volumes.Volumes{CS: cs, Getter: getter, Log: cfg.Logger},
		Recorders: a.recorders,
		Forget:    a.forget,
		PodsDir:   a.podsDir,
		APIServer: cfg.APIServer, BackoffBase: cfg.BackoffBase, BackoffMax: cfg.BackoffMax,
		MaxLogBytes: cfg.MaxLogBytes, VolumeRefresh: cfg.VolumeRefresh,
	}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		a.bootID = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		a.kernel = strings.TrimSpace(string(b))
	}
	return a, nil
}

// NodeNames lists the nodes this agent runs.
func (a *Agent) NodeNames() []string {
	out := make([]string, 0, len(a.nodes))
	for _, n := range a.nodes {
		out = append(out, n.Name)
	}
	return out
}

// Run registers the nodes, serves their kubelet APIs, runs their pods and
// provisions volumes until ctx ends; then it stops every pod process
// gracefully, marks the nodes not ready and returns.
func (a *Agent) Run(ctx context.Context) error {
	a.reapPrevious()

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.cs.CoreV1().Events("")})
	defer broadcaster.Shutdown()

	for _, n := range a.nodes {
		if err := a.registerNode(ctx, n); err != nil {
			return err
		}
		node, err := a.cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get node %s: %w", n.Name, err)
		}
		a.nodeUIDs[n.Name] = node.UID
		a.recorders[n.Name] = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: n.Name})
		if err := a.renewLease(ctx, n); err != nil {
			return err
		}
	}

	servers, err := a.startServers()
	if err != nil {
		return err
	}

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()

	if a.cfg.StorageClass != "" {
		prov := &volumes.Provisioner{CS: a.cs, Log: a.log, StorageClass: a.cfg.StorageClass, Default: a.cfg.StorageClassDefault, StateDir: a.cfg.StateDir}
		if err := prov.EnsureStorageClass(ctx); err != nil {
			a.stopServers(servers)
			return err
		}
		a.wg.Add(1)
		go func() { defer a.wg.Done(); prov.Run(runCtx) }()
	}

	// One pod informer per node, as a kubelet has: spec.nodeName=<node>.
	var synced []cache.InformerSynced
	var factories []informers.SharedInformerFactory
	for _, n := range a.nodes {
		name := n.Name
		f := informers.NewSharedInformerFactoryWithOptions(a.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "spec.nodeName=" + name
		}))
		inf := f.Core().V1().Pods().Informer()
		reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { a.podChanged(runCtx, obj) },
			UpdateFunc: func(_, obj any) { a.podChanged(runCtx, obj) },
			DeleteFunc: func(obj any) { a.podRemoved(obj) },
		})
		if err != nil {
			return fmt.Errorf("pod informer: %w", err)
		}
		// The handler's own HasSynced: every existing pod has a worker
		// before releaseStale looks at them.
		synced = append(synced, reg.HasSynced)
		factories = append(factories, f)
		f.Start(runCtx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		// Stopped while starting: a stop request, not a failure.
		cancelRun()
		a.shutdown(servers, factories)
		return nil
	}
	a.releaseStale()

	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.heartbeat(runCtx) }()
	a.log.Info("node agent running", "nodes", len(a.nodes), "state_dir", a.cfg.StateDir)

	<-ctx.Done()
	cancelRun()
	a.shutdown(servers, factories)
	return nil
}

func (a *Agent) shutdown(servers []*http.Server, factories []informers.SharedInformerFactory) {
	for _, f := range factories {
		f.Shutdown()
	}
	a.mu.Lock()
	workers := make([]*podworker.Worker, 0, len(a.workers))
	for _, w := range a.workers {
		workers = append(workers, w)
	}
	a.mu.Unlock()
	for _, w := range workers {
		<-w.Done()
	}
	a.wg.Wait()
	a.stopServers(servers)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range a.nodes {
		if err := a.updateNodeStatus(ctx, n, false, "AgentStopped", "the dayops node agent stopped"); err != nil {
			a.log.Warn("could not mark node not ready", "node", n.Name, "err", err)
		}
	}
	a.log.Info("node agent stopped")
}

func (a *Agent) podChanged(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	node, ok := a.nodeByName[pod.Spec.NodeName]
	if !ok {
		return
	}
	a.mu.Lock()
	w, ok := a.workers[pod.UID]
	if !ok {
		if ctx.Err() != nil {
			a.mu.Unlock()
			return
		}
		w = podworker.New(a.host, node.Name, node.IP, pod)
		a.workers[pod.UID] = w
		a.byName[pod.Namespace+"/"+pod.Name] = w
		a.mu.Unlock()
		go w.Run(ctx)
		return
	}
	a.mu.Unlock()
	w.Update(pod)
}

func (a *Agent) podRemoved(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	w := a.workers[pod.UID]
	a.mu.Unlock()
	if w != nil {
		w.MarkRemoved()
	}
}

func (a *Agent) forget(w *podworker.Worker) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.workers, w.UID())
	key := w.Namespace() + "/" + w.Name()
	if a.byName[key] == w {
		delete(a.byName, key)
	}
}

func (a *Agent) workerByName(ns, name string) *podworker.Worker {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byName[ns+"/"+name]
}

// reapPrevious stops every process a previous run of the agent left
// running (identified by PID and start time, so a recycled PID is never
// hit). Pods that still exist are started again by their workers with the
// same IP, volumes and restart count: the agent never adopts a process it
// cannot wait for, and never leaves one behind.
func (a *Agent) reapPrevious() {
	Reap(a.cfg.StateDir, a.log)
}

// Reap stops the pod processes recorded in an agent state dir that are
// still running: for a stack that had to SIGKILL its agent (`dayops-dev dev
// agent reap`), and at every agent start. It returns how many it stopped.
func Reap(stateDir string, log *slog.Logger) int {
	podsDir := filepath.Join(stateDir, "pods")
	entries, err := os.ReadDir(podsDir)
	if err != nil {
		return 0
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		killed int
	)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(podsDir, e.Name(), "pod.json"))
		if err != nil {
			continue
		}
		var rec podworker.Record
		if json.Unmarshal(b, &rec) != nil {
			continue
		}
		for c, p := range rec.Procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if podproc.KillRecorded(p.PID, p.Start, 10*time.Second) {
					log.Info("stopped a pod process left by a previous agent run", "pod", rec.Namespace+"/"+rec.Name, "container", c, "pid", p.PID)
					mu.Lock()
					killed++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	return killed
}

// releaseStale frees IPs and pod directories of pods that no longer exist.
func (a *Agent) releaseStale() {
	a.mu.Lock()
	live := map[string]bool{}
	for uid := range a.workers {
		live[string(uid)] = true
	}
	a.mu.Unlock()
	for _, uid := range a.ipam.Owners() {
		if !live[uid] {
			if err := a.ipam.Release(uid); err != nil {
				a.log.Warn("release stale pod IP", "uid", uid, "err", err)
			}
		}
	}
	entries, _ := os.ReadDir(a.podsDir)
	for _, e := range entries {
		if !live[e.Name()] {
			_ = os.RemoveAll(filepath.Join(a.podsDir, e.Name()))
		}
	}
}

// clientGetter reads ConfigMaps and Secrets from the API server.
type clientGetter struct{ cs kubernetes.Interface }

func (g clientGetter) ConfigMap(ctx context.Context, ns, name string) (map[string]string, error) {
	cm, err := g.cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, podenv.NotFoundError{Kind: "configmap", Namespace: ns, Name: name}
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range cm.Data {
		out[k] = v
	}
	for k, v := range cm.BinaryData {
		out[k] = string(v)
	}
	return out, nil
}

func (g clientGetter) Secret(ctx context.Context, ns, name string) (map[string][]byte, error) {
	s, err := g.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, podenv.NotFoundError{Kind: "secret", Namespace: ns, Name: name}
	}
	if err != nil {
		return nil, err
	}
	return s.Data, nil
}

// dayopsBinary is the product binary the dayops command maps to: the
// configured one, else "dayops" beside the agent's executable (bin/dayops
// beside bin/dayops-dev). It is never the agent's own executable: that is
// the development binary, which has none of the product's verbs, so a
// missing bin/dayops fails the Pod with a message naming it.
func dayopsBinary(configured string) string {
	if configured != "" {
		return configured
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(exe), imagemap.DayopsCommand)
}
