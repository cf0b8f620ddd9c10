package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/testutil/dayopstest"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/workflows"
	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// gapMeter measures the longest time no write was acknowledged.
type gapMeter struct {
	mu      sync.Mutex
	longest time.Duration
	stop    chan struct{}
	done    chan struct{}
}

func startGapMeter(w *redistest.Writer) *gapMeter {
	g := &gapMeter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		last, lastAt := w.Stats().Acked, time.Now()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-g.stop:
				return
			case now := <-t.C:
				if a := w.Stats().Acked; a != last {
					last, lastAt = a, now
				}
				g.mu.Lock()
				g.longest = max(g.longest, now.Sub(lastAt))
				g.mu.Unlock()
			}
		}
	}()
	return g
}

// take returns the longest gap since the last take.
func (g *gapMeter) take() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.longest
	g.longest = 0
	return l
}

func (g *gapMeter) close() { close(g.stop); <-g.done }

// figure is one scenario's measurements (printed at the end, and by
// `dayops bench chaos`-style reports in docs/self-healing.md).
type figure struct {
	scenario   string
	service    time.Duration // fault -> primary Service selects the new primary (0: not applicable)
	redundancy time.Duration // fault -> guardian Healthy, every instance ready
	gap        time.Duration // longest time without an acknowledged write
	failed     int64         // writes that failed (outcome unknown, not lost)
}

type healHarness struct {
	*harness
	env     *devtest.Env
	name    string
	bin     string
	w       *worker
	workers int
	writer  *redistest.Writer
	gaps    *gapMeter
	figures []figure
}

func (h *healHarness) startWorker() {
	h.workers++
	h.w = startWorker(h.t, h.bin, h.d, h.workers)
}

// health queries the cluster's guardian.
func (h *healHarness) health() (workflows.GuardianHealth, error) {
	var gh workflows.GuardianHealth
	v, err := h.d.Deps.Temporal.QueryWorkflow(h.t.Context(), workflows.GuardianWorkflowID(h.ns, h.name), "", workflows.QueryHealth)
	if err != nil {
		return gh, err
	}
	err = v.Get(&gh)
	return gh, err
}

// waitWhole waits until the guardian says Healthy with every instance
// ready, and returns when that was first seen.
func (h *healHarness) waitWhole(limit time.Duration) time.Time {
	h.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		gh, err := h.health()
		if err == nil && gh.State == "Healthy" && gh.Ready == gh.Desired && gh.Desired > 0 {
			return time.Now()
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("cluster not whole after %s: %+v (err %v)", limit, gh, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// primaryOf returns the pod and IP of shard's primary (by role label).
func (h *healHarness) primaryOf(shard int) (string, string) {
	h.t.Helper()
	l, err := h.env.Clientset.CoreV1().Pods(h.ns).List(h.t.Context(), metav1.ListOptions{
		LabelSelector: fmt.Sprintf("dayops.io/cluster=%s,dayops.io/shard=%d,dayops.io/role=primary", h.name, shard)})
	if err != nil || len(l.Items) != 1 {
		h.t.Fatalf("primary of shard-%d: %v (%d pods)", shard, err, len(l.Items))
	}
	return l.Items[0].Name, l.Items[0].Status.PodIP
}

// endpoints returns the addresses the Service selects.
func (h *healHarness) endpoints(svc string) []string {
	sl, err := h.env.Clientset.DiscoveryV1().EndpointSlices(h.ns).List(h.t.Context(), metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range sl.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				out = append(out, e.Addresses...)
			}
		}
	}
	return out
}

// waitServiceMoves waits until the shard's primary Service selects exactly
// one address other than old, and returns when.
func (h *healHarness) waitServiceMoves(shard int, old string, limit time.Duration) time.Time {
	h.t.Helper()
	svc := h.name + "-shard-" + strconv.Itoa(shard)
	deadline := time.Now().Add(limit)
	for {
		if eps := h.endpoints(svc); len(eps) == 1 && eps[0] != old {
			return time.Now()
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("service %s still selects %v after %s (old primary %s)", svc, h.endpoints(svc), limit, old)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *healHarness) forceDelete(pod string) {
	h.t.Helper()
	zero := int64(0)
	if err := h.env.Clientset.CoreV1().Pods(h.ns).Delete(h.t.Context(), pod, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		h.t.Fatalf("force-delete %s: %v", pod, err)
	}
}

// scenario runs one fault and measures it.
func (h *healHarness) scenario(label string, shard int, followsService bool, fault func()) {
	h.t.Helper()
	_, oldIP := h.primaryOf(shard)
	h.gaps.take()
	before := h.writer.Stats()
	began := time.Now()
	fault()
	// The guardian must have seen the fault (a crash repaired between two
	// of its looks leaves nothing to wait for).
	for seen := time.Now().Add(15 * time.Second); time.Now().Before(seen); time.Sleep(50 * time.Millisecond) {
		if gh, err := h.health(); err == nil && gh.ObservedAt.After(began) && (gh.State != "Healthy" || gh.Ready != gh.Desired) {
			break
		}
	}
	f := figure{scenario: label}
	if followsService {
		f.service = h.waitServiceMoves(shard, oldIP, 2*time.Minute).Sub(began)
	}
	f.redundancy = h.waitWhole(5 * time.Minute).Sub(began)
	f.gap = h.gaps.take()
	f.failed = h.writer.Stats().Failed - before.Failed
	h.t.Logf("%s: service followed after %s, full redundancy after %s, longest write gap %s, %d writes failed (outcome unknown)",
		label, f.service.Round(time.Millisecond), f.redundancy.Round(time.Millisecond), f.gap.Round(time.Millisecond), f.failed)
	h.figures = append(h.figures, f)
	checkZones(h.t, h.cluster(h.name))
}

func TestSelfHealing(t *testing.T) {
	env := devtest.Get(t)
	ctx := t.Context()
	bin := buildDayops(t, env.Root)
	d := dayopstest.Start(t, env, dayopstest.Options{NoWorker: true})
	h := &healHarness{harness: &harness{t: t, d: d, ns: env.Namespace}, env: env, name: "heal", bin: bin}
	h.startWorker()
	nsq := url.Values{"namespace": {h.ns}}

	acc := h.start("/v1/clusters", nil, map[string]any{"name": h.name, "namespace": h.ns, "shards": 3, "replicasPerShard": 1,
		"persistence": map[string]any{"mode": "aof"}, "reason": "self-healing e2e"})
	h.wait(acc.OperationID, 5*time.Minute, nil)
	h.waitWhole(time.Minute)
	h.measureCost(65 * time.Second)
	creds := credentials(t, d, h.ns, h.name)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: creds.Addresses, Password: creds.Password, MaxRedirects: 16,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	defer cc.Close()
	// Writes count as acknowledged once a replica has them (WAIT 1): the
	// scenarios lose whole Pods and nodes, and Redis replicates
	// asynchronously, so a write only the primary held when its node
	// vanished is not one any failover can keep (a process crash is another
	// matter: TestFenceEmptyPrimary and the AOF scenario below).
	h.writer = redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 5_000, Workers: 4, WaitReplicas: 1})
	h.gaps = startGapMeter(h.writer)
	defer h.gaps.close()

	// 1. A primary's Pod is force-deleted (its node vanished): Redis promotes
	// the replica, the guardian relabels and the Service follows, then a
	// recover operation brings the ordinal back as a replica.
	pod, _ := h.primaryOf(0)
	h.scenario("force-delete a primary Pod", 0, true, func() { h.forceDelete(pod) })

	// 2. A replica's Pod and its volume are deleted.
	l, _ := env.Clientset.CoreV1().Pods(h.ns).List(ctx, metav1.ListOptions{LabelSelector: "dayops.io/cluster=" + h.name + ",dayops.io/shard=1,dayops.io/role=replica"})
	if len(l.Items) != 1 {
		t.Fatalf("shard-1 replicas: %d", len(l.Items))
	}
	rep := l.Items[0]
	h.scenario("delete a replica Pod and its PVC", 1, false, func() {
		pvc := rep.Spec.Volumes[0].PersistentVolumeClaim.ClaimName
		if err := env.Clientset.CoreV1().PersistentVolumeClaims(h.ns).Delete(ctx, pvc, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := env.Clientset.CoreV1().Pods(h.ns).Delete(ctx, rep.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	// 3. The worker is SIGKILLed in the middle of a recovery: the recovery
	// finishes once, each step once in the audit log.
	pod, _ = h.primaryOf(2)
	killedDuring := ""
	prev, _ := h.health()
	h.scenario("force-delete a primary Pod, worker killed mid-recovery", 2, true, func() {
		h.forceDelete(pod)
		deadline := time.Now().Add(2 * time.Minute)
		for killedDuring == "" {
			if gh, err := h.health(); err == nil && gh.LastRecovery != "" && gh.LastRecovery != prev.LastRecovery {
				var op httpapi.Operation
				if err := d.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+gh.LastRecovery, nil, nil, &op); err == nil &&
					op.Status == "Running" && op.Progress.StepsDone >= 4 {
					killedDuring = fmt.Sprintf("%s at step %d (%s)", op.OperationID, op.Progress.StepsDone, op.Progress.Step)
					h.w.kill(syscall.SIGKILL)
					h.startWorker()
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("no recovery to interrupt")
			}
			time.Sleep(30 * time.Millisecond)
		}
	})
	t.Logf("worker killed during recovery %s", killedDuring)

	// 4. The worker is down while a Pod is lost: repaired when it is back.
	l, _ = env.Clientset.CoreV1().Pods(h.ns).List(ctx, metav1.ListOptions{LabelSelector: "dayops.io/cluster=" + h.name + ",dayops.io/shard=0,dayops.io/role=replica"})
	if len(l.Items) != 1 {
		t.Fatalf("shard-0 replicas: %d", len(l.Items))
	}
	rep = l.Items[0]
	h.scenario("worker down while a replica Pod is lost", 0, false, func() {
		h.w.kill(syscall.SIGKILL)
		h.forceDelete(rep.Name)
		time.Sleep(3 * time.Second)
		h.startWorker()
	})

	// 5. Switchover under writes: no acknowledged write lost, a short gap.
	h.gaps.take()
	_, oldIP := h.primaryOf(1)
	began := time.Now()
	dry := h.start("/v1/clusters/"+h.name+"/operations", url.Values{"namespace": {h.ns}, "dryRun": {"true"}}, map[string]any{"type": "switchover", "shard": 1})
	t.Logf("switchover plan: %s: %v", dry.Plan.Summary, dry.Plan.Steps)
	acc = h.start("/v1/clusters/"+h.name+"/operations", nsq, map[string]any{"type": "switchover", "shard": 1, "reason": "e2e"})
	if op := h.follow(acc.OperationID, 3*time.Minute, 100*time.Millisecond, nil); op.Progress.Outcome != "succeeded" {
		t.Fatalf("switchover ended %s: %s %s", op.Status, op.Error, op.Progress.Message)
	}
	svcAt := h.waitServiceMoves(1, oldIP, time.Minute)
	f := figure{scenario: "switchover under writes", service: svcAt.Sub(began), redundancy: h.waitWhole(time.Minute).Sub(began), gap: h.gaps.take()}
	t.Logf("switchover: done in %s, longest write gap %s", f.redundancy.Round(time.Millisecond), f.gap.Round(time.Millisecond))
	h.figures = append(h.figures, f)
	h.saveHistory(workflows.WorkflowID(h.ns, h.name), acc.RunID, "switchover")

	// 6. SIGKILL a primary's redis-server (AOF): the process restarts, no
	// acknowledged write is lost.
	pod, ip := h.primaryOf(2)
	h.scenario("SIGKILL a primary redis-server (aof)", 2, false, func() { killRedis(t, ip) })
	_ = pod

	// 7. Every Pod of one Kubernetes node is lost at once (the node is
	// cordoned and its Pods force-deleted, as after a node failure).
	pod, _ = h.primaryOf(0)
	p, err := env.Clientset.CoreV1().Pods(h.ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node := p.Spec.NodeName
	cordon(t, env, node, true)
	defer cordon(t, env, node, false)
	h.scenario("lose every Pod of node "+node, 0, true, func() {
		l, _ := env.Clientset.CoreV1().Pods(h.ns).List(ctx, metav1.ListOptions{LabelSelector: "dayops.io/cluster=" + h.name})
		for _, p := range l.Items {
			if p.Spec.NodeName == node {
				h.forceDelete(p.Name)
			}
		}
	})
	cordon(t, env, node, false)

	stats := h.writer.Stop()
	// A fresh client: the writer's may still map slots to Pods that are gone.
	creds = credentials(t, d, h.ns, h.name)
	fresh := redis.NewClusterClient(&redis.ClusterOptions{Addrs: creds.Addresses, Password: creds.Password, MaxRedirects: 16})
	defer fresh.Close()
	checked, err := h.writer.Verify(ctx, fresh)
	if err != nil {
		t.Fatalf("acknowledged writes lost: %v", err)
	}
	t.Logf("writer: %d acked, %d failed (unknown outcome), %d keys verified: 0 acknowledged writes lost", stats.Acked, stats.Failed, checked)
	clusterCheck(t, creds)
	c := h.cluster(h.name)
	checkServices(t, env, h.ns, h.name, c)

	// The audit log: every step once; losses, failovers and recoveries are
	// recorded with the system actor.
	a := tallyAudit(t, d, operation.ClusterKey(h.ns, h.name))
	counts := map[string]int{}
	for _, e := range d.Events(t, eventstore.Filter{Cluster: operation.ClusterKey(h.ns, h.name)}) {
		counts[e.Type]++
		if e.Type == audit.TypeInstanceLost && e.Metadata.Actor != audit.SystemActor {
			t.Errorf("InstanceLost recorded by %q", e.Metadata.Actor)
		}
	}
	for _, typ := range []string{audit.TypeInstanceLost, audit.TypeFailoverObserved, audit.TypeInstanceRecovered, audit.TypeSwitchedOver} {
		if counts[typ] == 0 {
			t.Errorf("no %s event", typ)
		}
	}
	for id, kinds := range a.ops {
		if !slices.Equal(kinds, []string{"started", "completed"}) {
			t.Errorf("audit: operation %s has %v", id, kinds)
		}
	}
	t.Logf("audit: %v", counts)
	if gh, err := h.health(); err == nil {
		t.Logf("guardian cost: %d observations, %d Redis commands (%d instances)", gh.Observations, gh.RedisCommands, gh.Desired)
		h.saveHistory(workflows.GuardianWorkflowID(h.ns, h.name), "", "guardian-running")
	}
	if gh, err := h.health(); err == nil && gh.LastRecovery != "" {
		var op httpapi.Operation
		if err := d.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+gh.LastRecovery, nil, nil, &op); err == nil {
			h.saveHistory(op.WorkflowID, op.RunID, "recover")
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%-55s %10s %12s %10s %8s\n", "scenario", "service s", "redundancy s", "gap s", "failed")
	for _, f := range h.figures {
		fmt.Fprintf(&b, "%-55s %10.2f %12.2f %10.2f %8d\n", f.scenario, f.service.Seconds(), f.redundancy.Seconds(), f.gap.Seconds(), f.failed)
	}
	t.Logf("figures (acknowledged writes lost: 0 in every scenario):\n%s", b.String())

	acc = h.start("/v1/clusters/"+h.name, url.Values{"namespace": {h.ns}, "deleteVolumes": {"true"}, "reason": {"e2e done"}}, nil)
	h.wait(acc.OperationID, 5*time.Minute, nil)
}

// measureCost reports what guarding an idle, healthy cluster costs: the
// worker's CPU and the Redis commands per guarded instance per minute.
func (h *healHarness) measureCost(d time.Duration) {
	h.t.Helper()
	before, err := h.health()
	if err != nil {
		h.t.Fatal(err)
	}
	cpu0 := procCPU(h.t, h.w.cmd.Process.Pid)
	time.Sleep(d)
	after, err := h.health()
	if err != nil {
		h.t.Fatal(err)
	}
	cpu := procCPU(h.t, h.w.cmd.Process.Pid) - cpu0
	// The guardian's counters move when a watch returns (at least every
	// minute); use the observations' own count to scale.
	obs := after.Observations - before.Observations
	cmds := after.RedisCommands - before.RedisCommands
	perObs := 0.0
	if obs > 0 {
		perObs = float64(cmds) / float64(obs)
	}
	h.t.Logf("guardian cost (idle %s): worker CPU %.1f%% of one core; %.1f Redis commands per observation = %.0f per guarded instance per minute at 2 observations/s (%d instances)",
		d, 100*cpu.Seconds()/d.Seconds(), perObs, perObs/float64(max(after.Desired, 1))*120, after.Desired)
}

// procCPU is the user+system CPU time of a process.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// killRedis SIGKILLs the redis-server serving ip (found by its --bind
// argument): a process crash, the node agent restarts it.
func killRedis(t *testing.T, ip string) {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", "redis-server.*--bind "+ip+" ").Output()
	if err != nil {
		out, err = exec.Command("pgrep", "-f", "redis-server.*"+ip).Output()
	}
	if err != nil {
		t.Fatalf("find redis-server of %s: %v", ip, err)
	}
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", pid, err)
		}
		t.Logf("SIGKILLed redis-server pid %d (%s)", pid, ip)
	}
}

func cordon(t *testing.T, env *devtest.Env, node string, on bool) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"spec": map[string]any{"unschedulable": on}})
	if _, err := env.Clientset.CoreV1().Nodes().Patch(context.WithoutCancel(t.Context()), node, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		t.Errorf("cordon %s=%v: %v", node, on, err)
	}
}

// saveHistory saves a workflow's history for the self-healing replay test
// (internal/workflows/testdata/selfheal-histories/<name>.json) when
// DAYOPS_RECORD_HISTORIES=1.
func (h *healHarness) saveHistory(wid, rid, name string) {
	if os.Getenv("DAYOPS_RECORD_HISTORIES") == "" {
		return
	}
	args := []string{"workflow", "show", "--address", h.d.Config.TemporalAddress, "--workflow-id", wid, "--output", "json"}
	if rid != "" {
		args = append(args, "--run-id", rid)
	}
	out, err := exec.Command(filepath.Join(h.d.Env.BinDir, "temporal"), args...).Output()
	if err != nil {
		h.t.Errorf("record history of %s: %v", wid, err)
		return
	}
	dir := filepath.Join(h.d.Env.Root, "internal", "workflows", "testdata", "selfheal-histories")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Error(err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), out, 0o644); err != nil {
		h.t.Error(err)
	}
}
