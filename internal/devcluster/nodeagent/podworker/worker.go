package podworker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/atomicfile"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/imagemap"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podenv"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podlog"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podproc"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/volumes"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// Worker runs one pod: a goroutine that owns the pod's processes and
// reconciles them against the latest pod object, level-triggered (on every
// pod update, process exit, probe result, and once a second).
type Worker struct {
	h         *Host
	nodeName  string
	nodeIP    netip.Addr
	uid       types.UID
	namespace string
	name      string
	dir       string

	kick chan struct{}
	done chan struct{}

	mu         sync.Mutex
	pod        *corev1.Pod
	removed    bool
	ip         netip.Addr
	vols       map[string]string
	sandboxErr string
	volsAt     time.Time
	initDone   bool
	terminal   bool
	// finalAtStart: the pod was already Succeeded or Failed when this
	// worker was created (an agent restart): its status is final, never
	// rewritten.
	finalAtStart bool
	startTime    metav1.Time
	ctrs         map[string]*ctrState
	lastStatus   *corev1.PodStatus
}

// ctrState is one container (init or main) of a pod.
type ctrState struct {
	spec         corev1.Container
	init         bool
	restartCount int32
	hadRun       bool // a previous agent run ran it: the first start counts as a restart
	specChanged  bool // the image changed in place: restart now, whatever the policy

	p           *podproc.Proc
	running     bool
	term        *corev1.ContainerStateTerminated // the run that ended, not restarted yet
	lastTerm    *corev1.ContainerStateTerminated
	waitReason  string
	waitMsg     string
	nextStart   time.Time
	started     bool
	ready       bool
	killReason  string
	probeCancel context.CancelFunc
	log         *podlog.Log
	logPath     string
	prevLogPath string
	env         []podenv.Var
	mounts      []podproc.Mount
	imageID     string
	containerID string
}

// New returns the worker of pod on the node named nodeName (address nodeIP).
// Start it with Run.
func New(h *Host, nodeName string, nodeIP netip.Addr, pod *corev1.Pod) *Worker {
	w := &Worker{
		h:         h,
		nodeName:  nodeName,
		nodeIP:    nodeIP,
		uid:       pod.UID,
		namespace: pod.Namespace,
		name:      pod.Name,
		dir:       filepath.Join(h.PodsDir, string(pod.UID)),
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		pod:       pod,
		ctrs:      map[string]*ctrState{},
	}
	prev := map[string]corev1.ContainerStatus{}
	for _, s := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		prev[s.Name] = s
	}
	add := func(c corev1.Container, init bool) {
		cs := &ctrState{spec: c, init: init, waitReason: "ContainerCreating"}
		if s, ok := prev[c.Name]; ok {
			cs.restartCount = s.RestartCount
			cs.hadRun = s.State.Running != nil || s.State.Terminated != nil || s.LastTerminationState.Terminated != nil
			if s.State.Terminated != nil && init && s.State.Terminated.ExitCode == 0 {
				cs.term = s.State.Terminated.DeepCopy()
				cs.hadRun = false
			}
		}
		w.ctrs[c.Name] = cs
	}
	for _, c := range pod.Spec.InitContainers {
		add(c, true)
	}
	for _, c := range pod.Spec.Containers {
		add(c, false)
	}
	if pod.Status.StartTime != nil {
		w.startTime = *pod.Status.StartTime
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodInitialized && c.Status == corev1.ConditionTrue {
			w.initDone = true
		}
	}
	if len(pod.Spec.InitContainers) == 0 {
		w.initDone = true
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		w.terminal, w.finalAtStart = true, true
	}
	return w
}

func (w *Worker) Update(pod *corev1.Pod) {
	w.mu.Lock()
	w.pod = pod
	w.mu.Unlock()
	w.poke()
}

func (w *Worker) MarkRemoved() {
	w.mu.Lock()
	w.removed = true
	w.mu.Unlock()
	w.poke()
}

func (w *Worker) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *Worker) event(eventType, reason, format string, args ...any) {
	if r := w.h.Recorders[w.nodeName]; r != nil {
		w.mu.Lock()
		pod := w.pod
		w.mu.Unlock()
		r.Eventf(pod, eventType, reason, format, args...)
	}
}

func (w *Worker) logger() *slog.Logger {
	return w.h.Log.With("pod", w.namespace+"/"+w.name, "node", w.nodeName)
}

func (w *Worker) Run(ctx context.Context) {
	defer close(w.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if finished := w.sync(ctx); finished {
			w.h.Forget(w)
			return
		}
		select {
		case <-ctx.Done():
			w.stopAll(w.graceFor(nil, shutdownGraceMax))
			w.h.Forget(w)
			return
		case <-w.kick:
		case <-tick.C:
		}
	}
}

// shutdownGraceMax caps each pod's grace period when the agent itself
// stops, so that the agent exits within the 15 s `dayops-dev dev down` gives it
// before SIGKILL.
const shutdownGraceMax = 10 * time.Second

// graceFor is the termination grace period of the pod (or of a probe).
func (w *Worker) graceFor(probe *corev1.Probe, max time.Duration) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.graceLocked(probe)
	if max > 0 && d > max {
		d = max
	}
	return d
}

func (w *Worker) graceLocked(probe *corev1.Probe) time.Duration {
	pod := w.pod
	g := int64(30)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *pod.Spec.TerminationGracePeriodSeconds
	}
	if probe != nil && probe.TerminationGracePeriodSeconds != nil {
		g = *probe.TerminationGracePeriodSeconds
	}
	if pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds < g {
		g = *pod.DeletionGracePeriodSeconds
	}
	d := time.Duration(g) * time.Second
	if d < 0 {
		d = 0
	}
	return d
}

// sync reconciles once; it returns true when the worker is done (the pod
// was deleted and finalised).
func (w *Worker) sync(ctx context.Context) bool {
	w.mu.Lock()
	pod, removed := w.pod, w.removed
	w.mu.Unlock()
	if removed || pod.DeletionTimestamp != nil {
		w.terminate(ctx, pod, removed)
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	w.mu.Lock()
	w.collectExitsLocked()
	terminal, final := w.terminal, w.finalAtStart
	w.mu.Unlock()
	if terminal {
		if !final {
			w.pushStatus(ctx)
		}
		return false
	}

	if err := w.ensureSandbox(ctx, pod); err != nil {
		w.mu.Lock()
		w.sandboxErr = err.Error()
		w.mu.Unlock()
		if !errors.Is(err, volumes.ErrNotReady) {
			w.event(corev1.EventTypeWarning, "FailedMount", "%v", err)
		}
		w.pushStatus(ctx)
		return false
	}

	w.mu.Lock()
	if !w.initDone {
		w.syncInitLocked(ctx, pod)
	}
	if w.initDone {
		w.syncMainLocked(ctx, pod)
	}
	w.mu.Unlock()
	w.pushStatus(ctx)
	return false
}

// ensureSandbox gives the pod its IP and volumes (the "sandbox"), and
// refreshes projected volumes every VolumeRefresh.
func (w *Worker) ensureSandbox(ctx context.Context, pod *corev1.Pod) error {
	w.mu.Lock()
	haveIP, vols, volsAt := w.ip.IsValid(), w.vols, w.volsAt
	w.mu.Unlock()
	if !haveIP {
		ip, err := w.h.IPAM.Allocate(w.nodeName, string(w.uid))
		if err != nil {
			return err
		}
		w.mu.Lock()
		w.ip = ip
		if w.startTime.IsZero() {
			w.startTime = metav1.Now()
		}
		w.mu.Unlock()
		if err := w.saveRecord(); err != nil {
			return err
		}
	}
	if vols != nil && time.Since(volsAt) < w.h.VolumeRefresh {
		return nil
	}
	w.mu.Lock()
	podIP := w.ip.String()
	w.mu.Unlock()
	vols, err := w.h.Volumes.Setup(ctx, pod, w.dir, podIP, w.nodeIP.String())
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.vols, w.volsAt, w.sandboxErr = vols, time.Now(), ""
	w.mu.Unlock()
	return nil
}

// collectExitsLocked turns exited processes into terminated states and
// schedules their restart.
func (w *Worker) collectExitsLocked() {
	for _, c := range w.ctrs {
		if !c.running || c.p == nil || !c.p.Exited() {
			continue
		}
		c.running, c.started, c.ready = false, false, false
		if c.probeCancel != nil {
			c.probeCancel()
			c.probeCancel = nil
		}
		reason := "Completed"
		if c.p.ExitCode != 0 {
			reason = "Error"
		}
		msg := ""
		if c.killReason != "" {
			msg = c.killReason
		}
		c.term = &corev1.ContainerStateTerminated{
			ExitCode:    int32(c.p.ExitCode),
			Reason:      reason,
			Message:     msg,
			StartedAt:   metav1.NewTime(c.p.StartedAt),
			FinishedAt:  metav1.NewTime(c.p.EndedAt),
			ContainerID: c.containerID,
		}
		c.killReason = ""
		delay := time.Duration(0)
		if !c.specChanged && c.p.EndedAt.Sub(c.p.StartedAt) < 10*time.Minute && c.restartCount > 0 {
			delay = w.h.BackoffBase << min(c.restartCount-1, 20)
			if delay > w.h.BackoffMax || delay <= 0 {
				delay = w.h.BackoffMax
			}
		}
		c.nextStart = c.p.EndedAt.Add(delay)
		w.saveRecordLocked()
	}
}

// shouldRestart applies the restart policy to a terminated container.
func shouldRestart(policy corev1.RestartPolicy, init bool, exit int32) bool {
	if init {
		return exit != 0 && policy != corev1.RestartPolicyNever
	}
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exit != 0
	default:
		return true
	}
}

func (w *Worker) syncInitLocked(ctx context.Context, pod *corev1.Pod) {
	for _, spec := range pod.Spec.InitContainers {
		c := w.ctrs[spec.Name]
		if c == nil {
			continue
		}
		if c.running {
			return
		}
		if c.term != nil && c.term.ExitCode == 0 {
			continue
		}
		if c.term != nil && !shouldRestart(pod.Spec.RestartPolicy, true, c.term.ExitCode) {
			w.terminal = true
			return
		}
		w.maybeStartLocked(ctx, pod, c)
		return
	}
	w.initDone = true
}

func (w *Worker) syncMainLocked(ctx context.Context, pod *corev1.Pod) {
	allDone := true
	for _, spec := range pod.Spec.Containers {
		c := w.ctrs[spec.Name]
		if c == nil {
			continue
		}
		if c.spec.Image != spec.Image {
			// The image is the one mutable field of a running container:
			// stop it and start the new image, as the kubelet does.
			old := c.spec.Image
			c.spec.Image = spec.Image
			c.specChanged = true
			if c.running {
				p, grace := c.p, w.graceLocked(nil)
				c.killReason = fmt.Sprintf("image changed from %s to %s", old, spec.Image)
				go w.event(corev1.EventTypeNormal, "Killing", "Container %s definition changed (image %s -> %s), will be restarted", spec.Name, old, spec.Image)
				go func() { p.Stop(grace); w.poke() }()
			}
		}
		if c.running {
			allDone = false
			continue
		}
		if c.term != nil && !c.specChanged && !shouldRestart(pod.Spec.RestartPolicy, false, c.term.ExitCode) {
			continue
		}
		allDone = false
		w.maybeStartLocked(ctx, pod, c)
	}
	if allDone {
		w.terminal = true
	}
}

// maybeStartLocked starts c now, or marks it waiting (back-off, image not
// mapped, configuration error).
func (w *Worker) maybeStartLocked(ctx context.Context, pod *corev1.Pod, c *ctrState) {
	now := time.Now()
	if c.term != nil && now.Before(c.nextStart) {
		c.waitReason = "CrashLoopBackOff"
		c.waitMsg = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
			c.nextStart.Sub(c.term.FinishedAt.Time).Round(time.Second), c.spec.Name, pod.Name, pod.Namespace, pod.UID)
		return
	}
	env, err := podenv.Build(ctx, w.h.Getter, pod, &c.spec, w.ip.String(), w.nodeIP.String(), w.h.APIServer)
	if err != nil {
		w.setWaitingLocked(c, "CreateContainerConfigError", err.Error())
		return
	}
	lookup := podenv.Lookup(env)
	command := expandAll(c.spec.Command, lookup)
	args := expandAll(c.spec.Args, lookup)
	ps, err := w.h.Images.Resolve(c.spec.Image, command, args, lookup)
	if err != nil {
		var nm imagemap.ErrNotMapped
		if errors.As(err, &nm) {
			w.setWaitingLocked(c, "ErrImagePull", err.Error())
		} else {
			w.setWaitingLocked(c, "CreateContainerError", err.Error())
		}
		return
	}
	mounts, err := containerMounts(&c.spec, w.vols)
	if err != nil {
		w.setWaitingLocked(c, "CreateContainerConfigError", err.Error())
		return
	}
	c.specChanged = false
	countRestart(c)
	log, logPath, prev, err := w.openLog(c)
	if err != nil {
		w.setWaitingLocked(c, "CreateContainerError", err.Error())
		return
	}
	p, err := w.h.Procs.Start(podproc.Spec{Path: ps.Path, Args: ps.Args, Env: podenv.Environ(env), Dir: c.spec.WorkingDir, Mounts: mounts}, log)
	if err != nil {
		log.Close()
		w.setWaitingLocked(c, "RunContainerError", err.Error())
		w.event(corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return
	}
	c.p, c.running = p, true
	go func() { <-p.Done(); w.poke() }() // react to the exit at once
	c.waitReason, c.waitMsg = "", ""
	c.log, c.logPath, c.prevLogPath = log, logPath, prev
	c.env, c.mounts = env, mounts
	c.containerID = fmt.Sprintf("process://%d", p.PID)
	c.imageID = imageID(ps.Path, c.spec.Image)
	c.started = c.spec.StartupProbe == nil
	c.ready = false
	pctx, cancel := context.WithCancel(ctx)
	c.probeCancel = cancel
	go w.probe(pctx, c, p)
	w.saveRecordLocked()
	w.logger().Info("container started", "container", c.spec.Name, "pid", p.PID, "path", ps.Path, "restart_count", c.restartCount)
	go w.event(corev1.EventTypeNormal, "Started", "Started container %s (pid %d: %s)", c.spec.Name, p.PID, strings.Join(ps.Args, " "))
}

// countRestart counts a start after a run that ended (or that a previous
// agent run ran) as a restart, keeping that run as the last state.
func countRestart(c *ctrState) {
	if c.term == nil && !c.hadRun {
		return
	}
	c.restartCount++
	if c.term != nil {
		c.lastTerm = c.term
	} else {
		c.lastTerm = &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "AgentRestart", Message: "the node agent restarted and restarted this container"}
	}
	c.term = nil
	c.hadRun = false
}

// openLog opens the log file of the container's next run
// (<restartCount>.log), keeping only the previous run's file beside it.
func (w *Worker) openLog(c *ctrState) (log *podlog.Log, logPath, prev string, err error) {
	cdir := filepath.Join(w.dir, "containers", c.spec.Name)
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return nil, "", "", err
	}
	logPath = filepath.Join(cdir, fmt.Sprintf("%d.log", c.restartCount))
	if c.restartCount > 0 {
		prev = filepath.Join(cdir, fmt.Sprintf("%d.log", c.restartCount-1))
	}
	pruneLogs(cdir, logPath, prev)
	log, err = podlog.Open(logPath, w.h.MaxLogBytes)
	return log, logPath, prev, err
}

func (w *Worker) setWaitingLocked(c *ctrState, reason, msg string) {
	if c.waitReason != reason || c.waitMsg != msg {
		go w.event(corev1.EventTypeWarning, "Failed", "%s: %s", reason, msg)
	}
	c.waitReason, c.waitMsg = reason, msg
}

func expandAll(in []string, lookup func(string) (string, bool)) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = podenv.Expand(s, lookup)
	}
	return out
}

// pruneLogs removes the log files of runs older than the previous one.
func pruneLogs(dir string, keep ...string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		base := strings.TrimSuffix(p, ".1")
		if !containsStr(keep, base) {
			_ = os.Remove(p)
		}
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s && x != "" {
			return true
		}
	}
	return false
}

var (
	imageIDMu    sync.Mutex
	imageIDCache = map[string]string{}
)

// imageID names the local binary that an image runs: a digest of the file.
func imageID(path, image string) string {
	imageIDMu.Lock()
	defer imageIDMu.Unlock()
	sum, ok := imageIDCache[path]
	if !ok {
		h := sha256.New()
		if f, err := os.Open(path); err == nil {
			_, _ = io.Copy(h, f)
			f.Close()
		}
		sum = hex.EncodeToString(h.Sum(nil))
		imageIDCache[path] = sum
	}
	name, _, _ := strings.Cut(imagemap.Normalize(image), ":")
	return "process://" + name + "@sha256:" + sum
}

// stopAll stops every running container with the given grace (used when
// the agent stops: the pod keeps its IP and volumes for the next run).
func (w *Worker) stopAll(grace time.Duration) {
	w.mu.Lock()
	var procs []*podproc.Proc
	for _, c := range w.ctrs {
		if c.probeCancel != nil {
			c.probeCancel()
			c.probeCancel = nil
		}
		if c.running && c.p != nil {
			procs = append(procs, c.p)
		}
	}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop(grace) }()
	}
	wg.Wait()
	w.mu.Lock()
	w.collectExitsLocked()
	w.mu.Unlock()
}

// terminate runs a deleted pod's graceful termination: SIGTERM, the grace
// period, SIGKILL; then frees its IP and directory and, unless the object is
// already gone, deletes it for good (grace 0, UID precondition), as the
// kubelet does. A pod whose object is already gone (removed: force-deleted,
// grace 0) stands for a node that vanished with its pods: its processes get
// SIGKILL at once, no SIGTERM. A real kubelet still gives them 2 s of
// SIGTERM; dayops' chaos scenarios force-delete to lose a node, and a
// SIGTERM would let the instance manager hand its primary's shard over
// first (package instance/stepaside), which a vanished node never does.
func (w *Worker) terminate(ctx context.Context, pod *corev1.Pod, removed bool) {
	grace := w.graceFor(nil, 0)
	if removed {
		grace = -1
	}
	w.mu.Lock()
	running := 0
	for _, c := range w.ctrs {
		if c.running {
			running++
		}
	}
	w.mu.Unlock()
	if running > 0 {
		if grace < 0 {
			w.event(corev1.EventTypeNormal, "Killing", "Killing pod (force-deleted: SIGKILL, as on a lost node)")
		} else {
			w.event(corev1.EventTypeNormal, "Killing", "Stopping pod (grace period %s)", grace)
		}
	}
	w.stopAll(grace)
	if err := w.h.IPAM.Release(string(w.uid)); err != nil {
		w.logger().Warn("release pod IP", "err", err)
	}
	_ = os.RemoveAll(w.dir)
	if removed {
		return
	}
	apiCtx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		apiCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	zero := int64(0)
	uid := w.uid
	err := w.h.CS.CoreV1().Pods(w.namespace).Delete(apiCtx, w.name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		w.logger().Warn("final pod delete failed", "err", err)
	}
	w.logger().Info("pod terminated")
}

// saveRecord writes pod.json (identity and live PIDs) for reapPrevious.
func (w *Worker) saveRecord() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.saveRecordLocked()
}

func (w *Worker) saveRecordLocked() error {
	rec := Record{Namespace: w.namespace, Name: w.name, UID: w.uid, Procs: map[string]ProcEntry{}}
	for name, c := range w.ctrs {
		if c.running && c.p != nil {
			st, err := podproc.StartTime(c.p.PID)
			if err == nil {
				rec.Procs[name] = ProcEntry{PID: c.p.PID, Start: st}
			}
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(w.dir, "pod.json"), b, 0o644); err != nil {
		return fmt.Errorf("save pod record: %w", err)
	}
	return nil
}

// ---- status ----

func (w *Worker) containerStatusLocked(c *ctrState) corev1.ContainerStatus {
	s := corev1.ContainerStatus{
		Name:         c.spec.Name,
		Image:        c.spec.Image,
		ImageID:      c.imageID,
		ContainerID:  c.containerID,
		RestartCount: c.restartCount,
		Ready:        c.running && c.started && c.ready,
	}
	started := c.running && c.started
	s.Started = &started
	switch {
	case c.running:
		s.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.p.StartedAt)}
	case c.term != nil && (c.waitReason == "" || c.waitReason == "ContainerCreating"):
		s.State.Terminated = c.term.DeepCopy()
	default:
		reason, msg := c.waitReason, c.waitMsg
		if reason == "" {
			reason = "ContainerCreating"
		}
		if c.term != nil && reason == "CrashLoopBackOff" {
			s.LastTerminationState.Terminated = c.term.DeepCopy()
		}
		if reason == "PodInitializing" || (c.init == false && !w.initDone) {
			reason = "PodInitializing"
		}
		s.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
	}
	if s.LastTerminationState.Terminated == nil && c.lastTerm != nil {
		s.LastTerminationState.Terminated = c.lastTerm.DeepCopy()
	}
	if s.ImageID == "" {
		s.ImageID = ""
	}
	return s
}

// buildStatusLocked computes the pod status from the worker's state.
func (w *Worker) buildStatusLocked(pod *corev1.Pod) corev1.PodStatus {
	st := corev1.PodStatus{QOSClass: pod.Status.QOSClass}
	if st.QOSClass == "" {
		st.QOSClass = corev1.PodQOSBestEffort
	}
	st.HostIP = w.nodeIP.String()
	st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	if !w.startTime.IsZero() {
		t := w.startTime
		st.StartTime = &t
	}
	sandboxReady := w.ip.IsValid() && w.vols != nil
	if w.ip.IsValid() {
		st.PodIP = w.ip.String()
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	for _, c := range pod.Spec.InitContainers {
		if cs := w.ctrs[c.Name]; cs != nil {
			st.InitContainerStatuses = append(st.InitContainerStatuses, w.containerStatusLocked(cs))
		}
	}
	sum := w.mainStatusesLocked(pod, &st)
	st.Phase = podPhase(pod, w.initDone, st.InitContainerStatuses, sum)
	st.Conditions = podConditions(pod, st.Phase, sum, sandboxReady, w.initDone)
	return st
}

// ctrSummary sums up the statuses of a pod's main containers.
type ctrSummary struct {
	allReady                                            bool
	notReady                                            []string
	anyRunning, allTerminated, anyFailed, anyWaitingNew bool
}

// mainStatusesLocked appends the main containers' statuses to st and sums
// them up.
func (w *Worker) mainStatusesLocked(pod *corev1.Pod, st *corev1.PodStatus) ctrSummary {
	sum := ctrSummary{allReady: true, allTerminated: true}
	for _, c := range pod.Spec.Containers {
		cs := w.ctrs[c.Name]
		if cs == nil {
			continue
		}
		s := w.containerStatusLocked(cs)
		if w.sandboxErr != "" && s.State.Waiting != nil && s.State.Waiting.Reason == "ContainerCreating" {
			s.State.Waiting.Message = w.sandboxErr
		}
		st.ContainerStatuses = append(st.ContainerStatuses, s)
		if !s.Ready {
			sum.allReady = false
			sum.notReady = append(sum.notReady, c.Name)
		}
		switch {
		case s.State.Running != nil:
			sum.anyRunning = true
			sum.allTerminated = false
		case s.State.Terminated != nil:
			if s.State.Terminated.ExitCode != 0 {
				sum.anyFailed = true
			}
		default:
			sum.allTerminated = false
			if cs.p == nil {
				sum.anyWaitingNew = true
			} else {
				sum.anyRunning = true // restarting (back-off) counts as running
			}
		}
	}
	return sum
}

// podPhase is the phase of a pod from its init container statuses and the
// summary of its main containers.
func podPhase(pod *corev1.Pod, initDone bool, inits []corev1.ContainerStatus, sum ctrSummary) corev1.PodPhase {
	initFailed := false
	for _, s := range inits {
		if s.State.Terminated != nil && s.State.Terminated.ExitCode != 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			initFailed = true
		}
	}
	switch {
	case initFailed:
		return corev1.PodFailed
	case !initDone:
		return corev1.PodPending
	case len(pod.Spec.Containers) > 0 && sum.allTerminated:
		if sum.anyFailed {
			return corev1.PodFailed
		}
		return corev1.PodSucceeded
	case sum.anyWaitingNew:
		return corev1.PodPending
	case sum.anyRunning:
		return corev1.PodRunning
	default:
		return corev1.PodPending
	}
}

// podConditions are the pod's conditions: the four the kubelet owns, then
// those owned by others (PodScheduled, readiness gates, ...), transition
// times carried over while a condition's status is unchanged.
func podConditions(pod *corev1.Pod, phase corev1.PodPhase, sum ctrSummary, sandboxReady, initDone bool) []corev1.PodCondition {
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg}
		if ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
		}
		return c
	}
	readyMsg := ""
	if len(sum.notReady) > 0 {
		readyMsg = fmt.Sprintf("containers with unready status: [%s]", strings.Join(sum.notReady, " "))
	}
	if phase == corev1.PodSucceeded {
		readyMsg = ""
	}
	podReady := sum.allReady && readinessGatesTrue(pod)
	conds := []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandboxReady, "", ""),
		cond(corev1.PodInitialized, initDone, "ContainersNotInitialized", "containers with incomplete status: init containers"),
		cond(corev1.ContainersReady, sum.allReady, "ContainersNotReady", readyMsg),
		cond(corev1.PodReady, podReady, "ContainersNotReady", readyMsg),
	}
	if phase == corev1.PodSucceeded {
		conds[2].Reason, conds[3].Reason = "PodCompleted", "PodCompleted"
	}
	// Keep conditions owned by others (PodScheduled, readiness gates, ...).
	for _, c := range pod.Status.Conditions {
		switch c.Type {
		case corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady:
		default:
			conds = append(conds, c)
		}
	}
	// Transition times carry over while a condition's status is unchanged.
	now := metav1.Now()
	for i := range conds {
		c := &conds[i]
		if !c.LastTransitionTime.IsZero() {
			continue
		}
		c.LastTransitionTime = now
		for _, old := range pod.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	return conds
}

func readinessGatesTrue(pod *corev1.Pod) bool {
	for _, g := range pod.Spec.ReadinessGates {
		ok := false
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// pushStatus writes the pod status when it changed.
func (w *Worker) pushStatus(ctx context.Context) {
	w.mu.Lock()
	pod := w.pod
	st := w.buildStatusLocked(pod)
	last := w.lastStatus
	w.mu.Unlock()
	if last != nil && apiequality.Semantic.DeepEqual(*last, st) {
		return
	}
	// Compare without transition times too, so that a mere clock tick does
	// not cause a write.
	if last != nil && equalIgnoringTimes(*last, st) {
		return
	}
	pods := w.h.CS.CoreV1().Pods(w.namespace)
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cur, err := pods.Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != w.uid {
			return apierrors.NewNotFound(corev1.Resource("pods"), w.name)
		}
		w.mu.Lock()
		w.pod = cur
		st = w.buildStatusLocked(cur)
		w.mu.Unlock()
		cur.Status = st
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		if ctx.Err() == nil && !apierrors.IsNotFound(err) {
			w.logger().Warn("pod status update failed", "err", err)
		}
		return
	}
	w.mu.Lock()
	w.lastStatus = &st
	w.mu.Unlock()
}

func equalIgnoringTimes(a, b corev1.PodStatus) bool {
	strip := func(s corev1.PodStatus) corev1.PodStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastTransitionTime = metav1.Time{}
			s.Conditions[i].LastProbeTime = metav1.Time{}
		}
		return s
	}
	return apiequality.Semantic.DeepEqual(strip(a), strip(b))
}

// ---- helpers for the kubelet server ----

// container is the named container, or the pod's first one for "" (the
// caller holds w.mu).
func (w *Worker) container(name string) (*ctrState, string, error) {
	if name == "" && len(w.pod.Spec.Containers) > 0 {
		name = w.pod.Spec.Containers[0].Name
	}
	c := w.ctrs[name]
	if c == nil {
		return nil, name, fmt.Errorf("container %q not found in pod %s/%s", name, w.namespace, w.name)
	}
	return c, name, nil
}

func (w *Worker) Target(container string) (podproc.Target, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, container, err := w.container(container)
	if err != nil {
		return podproc.Target{}, container, err
	}
	if !c.running {
		return podproc.Target{}, container, fmt.Errorf("container %q of pod %s/%s is not running", container, w.namespace, w.name)
	}
	return podproc.Target{Env: c.env, Mounts: c.mounts, PodIP: w.ip.String(), Dir: c.spec.WorkingDir}, container, nil
}

// LogFile returns the current (or previous) log file of a container and a
// channel closed when that run's log is complete.
func (w *Worker) LogFile(container string, previous bool) (string, <-chan struct{}, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, container, err := w.container(container)
	if err != nil {
		return "", nil, err
	}
	closed := make(chan struct{})
	close(closed)
	if previous {
		if c.prevLogPath == "" {
			return "", nil, fmt.Errorf("previous terminated container %q in pod %q not found", container, w.name)
		}
		return c.prevLogPath, closed, nil
	}
	if c.logPath == "" {
		return "", nil, fmt.Errorf("container %q in pod %q is waiting to start: %s", container, w.name, c.waitReason)
	}
	return c.logPath, c.log.Closed(), nil
}
