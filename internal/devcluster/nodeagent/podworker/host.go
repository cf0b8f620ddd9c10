// Package podworker runs the node agent's Pods: one Worker per Pod owns its
// sandbox (IP and volumes), container processes, probes, restarts and
// status, reconciling level-triggered against the latest Pod object.
package podworker

import (
	"log/slog"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/dayops/dayops/internal/devcluster/nodeagent/imagemap"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/ipam"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podenv"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podproc"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/volumes"
)

// Host is what the workers share from their agent.
type Host struct {
	CS      kubernetes.Interface
	Log     *slog.Logger
	Getter  podenv.Getter
	Images  imagemap.Map
	IPAM    *ipam.IPAM
	Procs   *podproc.Runner
	Volumes *volumes.Volumes
	// Recorders is the event recorder of each node, by node name.
	Recorders map[string]record.EventRecorder
	// Forget is called when a worker has finished its pod.
	Forget func(*Worker)
	// PodsDir holds a directory per pod (by UID).
	PodsDir string
	// The agent's Config values the workers use.
	APIServer     string
	BackoffBase   time.Duration
	BackoffMax    time.Duration
	MaxLogBytes   int64
	VolumeRefresh time.Duration
}

// UID is the pod's UID.
func (w *Worker) UID() types.UID { return w.uid }

// Namespace is the pod's namespace.
func (w *Worker) Namespace() string { return w.namespace }

// Name is the pod's name.
func (w *Worker) Name() string { return w.name }

// NodeName is the node the pod runs on.
func (w *Worker) NodeName() string { return w.nodeName }

// Done is closed when the worker has stopped.
func (w *Worker) Done() <-chan struct{} { return w.done }

// Pod returns a copy of the latest pod object.
func (w *Worker) Pod() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod.DeepCopy()
}

// IP is the pod's IP (invalid before the sandbox exists).
func (w *Worker) IP() netip.Addr {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ip
}
