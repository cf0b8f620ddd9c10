package nodeagent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"

	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podproc"
	"github.com/dayops/dayops/internal/testutil/syncbuf"
)

// These tests run against the shared local stack (devtest) with a second
// node agent of this package's code running in-process, so that they test
// this tree's agent whatever agent the shared stack runs. Its nodes carry a
// per-run label and NoSchedule taint; test pods select and tolerate them,
// so nothing else lands there and test pods land nowhere else. Its pods use
// 10.244.101-106.0/24 (--subnet-offset 100) and its provisioner serves a
// per-run StorageClass.

// testAgent is the in-process agent of this test binary.
type testAgent struct {
	id           string // node prefix, label and taint value
	storageClass string
	cs           kubernetes.Interface
	env          *devtest.Env
	nodes        []nodeInfo
}

const testAgentKey = "dayops.dev/test-agent"

// testAgentConfig is the config of an agent a test runs beside the stack's
// own: nodes named after a random ID (prefix-hex, cfg.NodePrefix), labelled
// and tainted with it so that only the test's pods land there, subnets
// from the first free offset at or above subnetFrom, its own state
// directory, and this test binary as its helper (cfg.Helper[0]).
func testAgentConfig(t *testing.T, env *devtest.Env, prefix string, subnetFrom, subnets int) Config {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	id := prefix + "-" + hex.EncodeToString(b[:])
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Kubeconfig = env.Kubeconfig
	cfg.PKIDir = filepath.Join(filepath.Dir(env.Kubeconfig), "pki")
	cfg.StateDir = t.TempDir()
	cfg.NodePrefix = id
	cfg.SubnetOffset = freeSubnetOffset(t, subnetFrom, subnets)
	cfg.LeaseRenew = 2 * time.Second
	cfg.NodeLabels = map[string]string{testAgentKey: id}
	cfg.NodeTaints = []corev1.Taint{{Key: testAgentKey, Value: id, Effect: corev1.TaintEffectNoSchedule}}
	cfg.Helper = []string{exe}
	return cfg
}

// startTestAgent runs the agent until t (the parent test) ends; at the end
// it waits for the test namespaces' pods to be finalised, stops the agent
// and deletes its nodes and StorageClass.
func startTestAgent(t *testing.T, env *devtest.Env) *testAgent {
	t.Helper()
	cfg := testAgentConfig(t, env, "nat", 100, 6)
	id := cfg.NodePrefix
	cfg.StorageClass = id + "-local"
	cfg.StorageClassDefault = false
	cfg.BackoffBase = 2 * time.Second
	cfg.VolumeRefresh = time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	runErr := make(chan error, 1)
	go func() { defer wg.Done(); runErr <- a.Run(ctx) }()
	ta := &testAgent{id: id, storageClass: cfg.StorageClass, cs: env.Clientset, env: env, nodes: cfg.nodes()}
	t.Cleanup(func() {
		// Let namespace deletion finalise our pods through the agent.
		waitFor(t, 90*time.Second, "test pods finalised", func() (bool, string) {
			pods, err := ta.cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			var left []string
			for _, p := range pods.Items {
				if strings.HasPrefix(p.Spec.NodeName, id+"-") {
					left = append(left, p.Namespace+"/"+p.Name)
				}
			}
			return len(left) == 0, strings.Join(left, ", ")
		}, false)
		cancel()
		wg.Wait()
		bg := context.Background()
		for _, n := range ta.nodes {
			_ = ta.cs.CoreV1().Nodes().Delete(bg, n.Name, metav1.DeleteOptions{})
			_ = ta.cs.CoordinationV1().Leases(leaseNamespace).Delete(bg, n.Name, metav1.DeleteOptions{})
		}
		_ = ta.cs.StorageV1().StorageClasses().Delete(bg, cfg.StorageClass, metav1.DeleteOptions{})
	})
	waitFor(t, 60*time.Second, "test nodes ready", func() (bool, string) {
		select {
		case err := <-runErr:
			t.Fatalf("agent stopped: %v", err)
		default:
		}
		ready := 0
		for _, n := range ta.nodes {
			node, err := ta.cs.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == len(ta.nodes), fmt.Sprintf("%d/%d ready", ready, len(ta.nodes))
	}, true)
	return ta
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond every 200 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string), fatal bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			if fatal {
				t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, last)
			}
			t.Errorf("timed out after %s waiting for %s: %s", timeout, what, last)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pod returns a pod spec pinned to the test agent's nodes.
func (ta *testAgent) pod(name, image string, c func(*corev1.Container)) *corev1.Pod {
	grace := int64(5)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{testAgentKey: ta.id},
			Tolerations:                   []corev1.Toleration{{Key: testAgentKey, Operator: corev1.TolerationOpEqual, Value: ta.id, Effect: corev1.TaintEffectNoSchedule}},
			TerminationGracePeriodSeconds: &grace,
			Containers:                    []corev1.Container{{Name: "redis", Image: image}},
		},
	}
	if c != nil {
		c(&p.Spec.Containers[0])
	}
	return p
}

func (ta *testAgent) create(t *testing.T, ns string, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	got, err := ta.cs.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
	return got
}

// waitPod polls the pod until cond holds.
func (ta *testAgent) waitPod(t *testing.T, ns, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(t, timeout, name+": "+what, func() (bool, string) {
		p, err := ta.cs.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		return cond(p), describe(p)
	}, true)
	return pod
}

func describe(p *corev1.Pod) string {
	s := fmt.Sprintf("phase=%s node=%s ip=%s", p.Status.Phase, p.Spec.NodeName, p.Status.PodIP)
	for _, c := range p.Status.Conditions {
		s += fmt.Sprintf(" %s=%s(%s %s)", c.Type, c.Status, c.Reason, c.Message)
	}
	for _, c := range p.Status.ContainerStatuses {
		s += fmt.Sprintf(" [%s restarts=%d ready=%v", c.Name, c.RestartCount, c.Ready)
		if c.State.Waiting != nil {
			s += fmt.Sprintf(" waiting=%s: %s", c.State.Waiting.Reason, c.State.Waiting.Message)
		}
		if c.State.Terminated != nil {
			s += fmt.Sprintf(" terminated=%s(%d)", c.State.Terminated.Reason, c.State.Terminated.ExitCode)
		}
		s += "]"
	}
	return s
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue && p.Status.Phase == corev1.PodRunning
		}
	}
	return false
}

func (ta *testAgent) deleteAndWait(t *testing.T, ns, name string) {
	t.Helper()
	if err := ta.cs.CoreV1().Pods(ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod %s: %v", name, err)
	}
	waitFor(t, 60*time.Second, "pod "+name+" gone", func() (bool, string) {
		p, err := ta.cs.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, describe(p)
	}, true)
}

func pidOf(t *testing.T, p *corev1.Pod) int {
	t.Helper()
	id := p.Status.ContainerStatuses[0].ContainerID
	pid, err := strconv.Atoi(strings.TrimPrefix(id, "process://"))
	if err != nil {
		t.Fatalf("containerID %q is not process://PID", id)
	}
	return pid
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && len(b) > 0 && !podproc.IsZombie(pid)
}

func redisClient(t *testing.T, ip string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: ip + ":6379", DialTimeout: 2 * time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestAgentOnStack(t *testing.T) {
	env := devtest.Get(t)
	start := time.Now()
	ta := startTestAgent(t, env)
	t.Logf("agent started, %d nodes Ready in %s", len(ta.nodes), time.Since(start).Round(time.Millisecond))

	t.Run("NodesRegistered", func(t *testing.T) {
		t.Parallel()
		zones := map[string]int{}
		firstRenew := map[string]time.Time{}
		for _, n := range ta.nodes {
			node, err := ta.cs.CoreV1().Nodes().Get(t.Context(), n.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			zones[node.Labels[zoneLabel]]++
			if got := node.Labels[hostnameLabel]; got != n.Name {
				t.Errorf("%s: hostname label %q", n.Name, got)
			}
			if got := node.Status.Addresses; len(got) == 0 || got[0].Address != n.IP.String() {
				t.Errorf("%s: addresses %v, want InternalIP %s", n.Name, got, n.IP)
			}
			if got := node.Status.DaemonEndpoints.KubeletEndpoint.Port; got != 10250 {
				t.Errorf("%s: kubelet port %d", n.Name, got)
			}
			if node.Status.Allocatable.Pods().IsZero() || node.Status.Allocatable.Cpu().IsZero() || node.Status.Allocatable.Memory().IsZero() {
				t.Errorf("%s: allocatable %v", n.Name, node.Status.Allocatable)
			}
			l, err := ta.cs.CoordinationV1().Leases(leaseNamespace).Get(t.Context(), n.Name, metav1.GetOptions{})
			if err != nil {
				t.Errorf("%s: lease: %v", n.Name, err)
				continue
			}
			firstRenew[n.Name] = l.Spec.RenewTime.Time
		}
		waitFor(t, 20*time.Second, "every lease renewed", func() (bool, string) {
			for name, first := range firstRenew {
				l, err := ta.cs.CoordinationV1().Leases(leaseNamespace).Get(t.Context(), name, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				if !l.Spec.RenewTime.After(first) {
					return false, name + " not renewed since " + first.String()
				}
			}
			return true, ""
		}, false)
		want := map[string]int{"zone-a": 2, "zone-b": 2, "zone-c": 2}
		if fmt.Sprint(zones) != fmt.Sprint(want) {
			t.Errorf("zones %v, want %v", zones, want)
		}
	})

	t.Run("RedisPodWithPVC", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{
				StorageClassName: &ta.storageClass,
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		if _, err := ta.cs.CoreV1().PersistentVolumeClaims(ns).Create(t.Context(), pvc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		mk := func(name string) *corev1.Pod {
			p := ta.pod(name, "redis:7.0", func(c *corev1.Container) {
				c.Args = []string{"--appendonly", "yes", "--dir", "/data"}
				c.Ports = []corev1.ContainerPort{{Name: "redis", ContainerPort: 6379}}
				c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
				c.ReadinessProbe = &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"redis-cli", "ping"}}},
					PeriodSeconds: 1,
				}
				c.LivenessProbe = &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("redis")}},
					PeriodSeconds: 2,
				}
			})
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
			}}}
			return p
		}
		ta.create(t, ns, mk("redis-1"))
		p := ta.waitPod(t, ns, "redis-1", 90*time.Second, "running and ready", podReady)
		ip := p.Status.PodIP
		var node nodeInfo
		for _, n := range ta.nodes {
			if n.Name == p.Spec.NodeName {
				node = n
			}
		}
		if addr, err := netip.ParseAddr(ip); err != nil || !node.Pool.Contains(addr) || addr == node.IP ||
			p.Status.HostIP != node.IP.String() || p.Status.StartTime == nil || len(p.Status.PodIPs) != 1 {
			t.Errorf("pod on %s (%s): podIP %q podIPs %v hostIP %q startTime %v", node.Name, node.Pool, ip, p.Status.PodIPs, p.Status.HostIP, p.Status.StartTime)
		}
		cs := p.Status.ContainerStatuses[0]
		if cs.State.Running == nil || cs.Started == nil || !*cs.Started || cs.ImageID == "" {
			t.Errorf("container status %+v", cs)
		}
		rc := redisClient(t, ip)
		if got, err := rc.Ping(t.Context()).Result(); err != nil || got != "PONG" {
			t.Fatalf("PING %s: %q %v", ip, got, err)
		}
		if err := rc.Set(t.Context(), "survives", "the pod", 0).Err(); err != nil {
			t.Fatal(err)
		}
		pid := pidOf(t, p)
		if !processAlive(pid) {
			t.Fatalf("process %d of the pod is not running", pid)
		}
		ta.deleteAndWait(t, ns, "redis-1")
		waitFor(t, 10*time.Second, "process stopped", func() (bool, string) { return !processAlive(pid), "" }, true)

		ta.create(t, ns, mk("redis-2"))
		p = ta.waitPod(t, ns, "redis-2", 90*time.Second, "running and ready", podReady)
		got, err := redisClient(t, p.Status.PodIP).Get(t.Context(), "survives").Result()
		if err != nil || got != "the pod" {
			t.Fatalf("GET survives on the new pod: %q %v", got, err)
		}

		// Deleting the claim removes the volume and its directory.
		claim, err := ta.cs.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), "data", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pv, err := ta.cs.CoreV1().PersistentVolumes().Get(t.Context(), claim.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dir := pv.Spec.HostPath.Path
		ta.deleteAndWait(t, ns, "redis-2")
		if err := ta.cs.CoreV1().PersistentVolumeClaims(ns).Delete(t.Context(), "data", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, "volume deleted", func() (bool, string) {
			_, err := ta.cs.CoreV1().PersistentVolumes().Get(t.Context(), pv.Name, metav1.GetOptions{})
			_, statErr := os.Stat(dir)
			return apierrors.IsNotFound(err) && os.IsNotExist(statErr), fmt.Sprintf("pv: %v, dir: %v", err, statErr)
		}, true)
	})

	t.Run("ZoneAntiAffinity", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		for i := 1; i <= 4; i++ {
			p := ta.pod(fmt.Sprintf("spread-%d", i), "redis:7.0", nil)
			p.Labels = map[string]string{"group": "spread"}
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": "spread"}},
					TopologyKey:   zoneLabel,
				}},
			}}
			ta.create(t, ns, p)
		}
		zones := map[string]string{}
		var pending *corev1.Pod
		waitFor(t, 60*time.Second, "3 pods scheduled and 1 unschedulable", func() (bool, string) {
			pods, err := ta.cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			clear(zones)
			pending = nil
			var states []string
			for i := range pods.Items {
				p := &pods.Items[i]
				states = append(states, p.Name+": "+describe(p))
				if p.Spec.NodeName != "" {
					zones[p.Name] = p.Spec.NodeName
					continue
				}
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
						pending = p
					}
				}
			}
			return len(zones) == 3 && pending != nil, strings.Join(states, "; ")
		}, true)
		seen := map[string]bool{}
		for pod, node := range zones {
			n, err := ta.cs.CoreV1().Nodes().Get(t.Context(), node, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			z := n.Labels[zoneLabel]
			if seen[z] {
				t.Errorf("two pods in zone %s (%v)", z, zones)
			}
			seen[z] = true
			_ = pod
		}
		var msg string
		for _, c := range pending.Status.Conditions {
			if c.Type == corev1.PodScheduled {
				msg = c.Message
			}
		}
		if !strings.Contains(msg, "didn't match pod anti-affinity rules") {
			t.Errorf("pending pod %s: scheduler message %q does not name the anti-affinity rule", pending.Name, msg)
		}
		events, err := ta.cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + pending.Name + ",reason=FailedScheduling"})
		if err != nil || len(events.Items) == 0 {
			t.Errorf("no FailedScheduling event for %s: %v", pending.Name, err)
		}
	})

	t.Run("LivenessFailureRestarts", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		ta.create(t, ns, ta.pod("unhealthy", "redis:7.0", func(c *corev1.Container) {
			c.LivenessProbe = &corev1.Probe{
				// Nothing listens on 6390: every probe fails.
				ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(6390)}},
				PeriodSeconds:    1,
				FailureThreshold: 2,
			}
		}))
		first := ta.waitPod(t, ns, "unhealthy", 60*time.Second, "running", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
		})
		firstPID := pidOf(t, first)
		p := ta.waitPod(t, ns, "unhealthy", 60*time.Second, "restarted after liveness failures", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1 &&
				p.Status.ContainerStatuses[0].State.Running != nil
		})
		cs := p.Status.ContainerStatuses[0]
		if cs.LastTerminationState.Terminated == nil || !strings.Contains(cs.LastTerminationState.Terminated.Message, "Liveness probe failed") {
			t.Errorf("lastState %+v does not record the liveness kill", cs.LastTerminationState)
		}
		if pidOf(t, p) == firstPID || processAlive(firstPID) {
			t.Errorf("old process %d still there or reused", firstPID)
		}
	})

	t.Run("KubectlExecAndLogs", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		start := time.Now()
		ta.create(t, ns, ta.pod("cli", "docker.io/library/redis:7.0", nil))
		p := ta.waitPod(t, ns, "cli", 60*time.Second, "running and ready", podReady)
		t.Logf("redis pod created to Ready (scheduling, start, status) in %s", time.Since(start).Round(time.Millisecond))
		kc := func(args ...string) string {
			return strings.TrimSpace(env.Kubectl(t, append([]string{"-n", ns}, args...)...))
		}
		if got := kc("exec", "cli", "--", "redis-cli", "ping"); got != "PONG" {
			t.Errorf("kubectl exec redis-cli ping = %q, want PONG", got)
		}
		// The redis-cli run by exec talks to THIS pod's server (not the
		// machine's on 127.0.0.1): same run_id and bind address.
		info, err := redisClient(t, p.Status.PodIP).Info(t.Context(), "server").Result()
		if err != nil {
			t.Fatal(err)
		}
		want := field(info, "run_id")
		got := field(kc("exec", "cli", "--", "redis-cli", "info", "server"), "run_id")
		if want == "" || got != want {
			t.Errorf("run_id via kubectl exec = %q, want the pod's %q", got, want)
		}
		if bind := kc("exec", "cli", "--", "redis-cli", "config", "get", "bind"); !strings.Contains(bind, p.Status.PodIP) {
			t.Errorf("config get bind = %q, want the pod IP %s", bind, p.Status.PodIP)
		}
		if out, err := env.KubectlE(t.Context(), "-n", ns, "exec", "cli", "--", "sh", "-c", "exit 3"); err == nil || !strings.Contains(out, "exit code 3") {
			t.Errorf("exit status not propagated: %v %q", err, out)
		}
		if env := kc("exec", "cli", "--", "printenv", "POD_IP"); env != p.Status.PodIP {
			t.Errorf("POD_IP in exec = %q, want %s", env, p.Status.PodIP)
		}
		// stdin: piped through, and a command that does not read it ends
		// even though the client keeps stdin open.
		if out, err := ta.exec(t, ns, "cli", []string{"sh", "-c", "cat | redis-cli -x set fromstdin >/dev/null && redis-cli get fromstdin"}, strings.NewReader("hello"), false); err != nil || strings.TrimSpace(out) != "hello" {
			t.Errorf("exec with stdin: %q %v", out, err)
		}
		openStdin, keepOpen := io.Pipe()
		defer keepOpen.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			if out, err := ta.exec(t, ns, "cli", []string{"redis-cli", "ping"}, openStdin, false); err != nil || strings.TrimSpace(out) != "PONG" {
				t.Errorf("exec with open stdin: %q %v", out, err)
			}
		}()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("exec of a command that ignores stdin did not end while the client kept stdin open")
		}
		logs := kc("logs", "cli")
		if !strings.Contains(logs, "Ready to accept connections") {
			t.Errorf("kubectl logs does not show the redis log:\n%s", logs)
		}
		if tail := kc("logs", "cli", "--tail", "1"); strings.Count(tail, "\n") != 0 || tail == "" {
			t.Errorf("kubectl logs --tail 1 = %q", tail)
		}
	})

	t.Run("InitContainersVolumesEnv", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		if _, err := ta.cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"key": "hello"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ta.cs.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "sec"}, StringData: map[string]string{"pw": "sekret"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		const work, cfgDir = "/tmp/nodeagent-test/work", "/tmp/nodeagent-test/cfg"
		p := ta.pod("jobpod", "busybox:1.36", func(c *corev1.Container) {
			c.Name = "main"
			// $(MY_NAME) is expanded by the agent; $(cat ...) is not a
			// defined variable and reaches the shell as written.
			c.Command = []string{"sh", "-c", `test "$(cat ` + work + `/marker)" = init && test "$(cat ` + cfgDir + `/key)" = hello && ` +
				`test "$GREETING" = hello && test "$PW" = sekret && test "$MY_IP" = "$POD_IP" && echo all-good $(MY_NAME)`}
			c.Env = []corev1.EnvVar{
				{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "key"}}},
				{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "pw"}}},
				{Name: "MY_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "MY_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			}
			c.VolumeMounts = []corev1.VolumeMount{{Name: "work", MountPath: work}, {Name: "cfg", MountPath: cfgDir, ReadOnly: true}}
		})
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Spec.InitContainers = []corev1.Container{{
			Name: "init", Image: "busybox:1.36",
			Command:      []string{"sh", "-c", "echo init > " + work + "/marker"},
			VolumeMounts: []corev1.VolumeMount{{Name: "work", MountPath: work}},
		}}
		p.Spec.Volumes = []corev1.Volume{
			{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		}
		ta.create(t, ns, p)
		got := ta.waitPod(t, ns, "jobpod", 60*time.Second, "succeeded", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		})
		logs := strings.TrimSpace(env.Kubectl(t, "-n", ns, "logs", "jobpod", "-c", "main"))
		if got.Status.Phase != corev1.PodSucceeded || logs != "all-good jobpod" {
			t.Errorf("phase %s, logs %q: %s", got.Status.Phase, logs, describe(got))
		}
		if ics := got.Status.InitContainerStatuses; len(ics) != 1 || ics[0].State.Terminated == nil || ics[0].State.Terminated.ExitCode != 0 {
			t.Errorf("init container status %+v", ics)
		}
	})

	// A deleted Pod's processes get SIGTERM and its grace period; a
	// force-deleted one stands for a lost node: SIGKILL at once, so that a
	// trap (dayops' instance manager handing a primary over) never runs.
	t.Run("ForceDeletionKills", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		dir := t.TempDir()
		for _, name := range []string{"graceful", "forced"} {
			ta.create(t, ns, ta.pod(name, "busybox", func(c *corev1.Container) {
				c.Command = []string{"sh", "-c", "trap 'echo term > " + filepath.Join(dir, name) + "; exit 0' TERM; touch " +
					filepath.Join(dir, name+".trapped") + "; while :; do sleep 0.1; done"}
			}))
		}
		pids := map[string]int{}
		for _, name := range []string{"graceful", "forced"} {
			pids[name] = pidOf(t, ta.waitPod(t, ns, name, 60*time.Second, "running", podReady))
			// Ready means started: the shell may not have set its trap yet.
			waitFor(t, 20*time.Second, name+"'s trap set", func() (bool, string) {
				_, err := os.Stat(filepath.Join(dir, name+".trapped"))
				return err == nil, fmt.Sprint(err)
			}, true)
		}
		ta.deleteAndWait(t, ns, "graceful")
		zero := int64(0)
		if err := ta.cs.CoreV1().Pods(ns).Delete(t.Context(), "forced", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		for name, pid := range pids {
			waitFor(t, 20*time.Second, name+"'s process gone", func() (bool, string) { return !processAlive(pid), "" }, true)
		}
		if _, err := os.Stat(filepath.Join(dir, "graceful")); err != nil {
			t.Errorf("the deleted Pod's trap did not run: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "forced")); err == nil {
			t.Error("the force-deleted Pod's process got SIGTERM (its trap ran), want SIGKILL only")
		}
	})

	t.Run("CrashLoopBackOff", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		ta.create(t, ns, ta.pod("crasher", "busybox", func(c *corev1.Container) {
			c.Command = []string{"sh", "-c", "echo crashing; exit 3"}
		}))
		p := ta.waitPod(t, ns, "crasher", 60*time.Second, "in CrashLoopBackOff after 2 restarts", func(p *corev1.Pod) bool {
			if len(p.Status.ContainerStatuses) != 1 {
				return false
			}
			cs := p.Status.ContainerStatuses[0]
			return cs.RestartCount >= 2 && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff"
		})
		cs := p.Status.ContainerStatuses[0]
		if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 3 || lt.Reason != "Error" {
			t.Errorf("lastState %+v, want terminated with exit code 3", cs.LastTerminationState)
		}
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("phase %s, want Running while restarting", p.Status.Phase)
		}
		if prev := strings.TrimSpace(env.Kubectl(t, "-n", ns, "logs", "crasher", "--previous")); prev != "crashing" {
			t.Errorf("kubectl logs --previous = %q", prev)
		}
	})

	t.Run("ExecWithTTY", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		ta.create(t, ns, ta.pod("tty", "redis:7.0", nil))
		ta.waitPod(t, ns, "tty", 60*time.Second, "running and ready", podReady)
		out, err := ta.exec(t, ns, "tty", []string{"sh", "-c", "tty; redis-cli ping"}, nil, true)
		if err != nil {
			t.Fatalf("exec with a TTY: %v (output %q)", err, out)
		}
		if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "PONG") {
			t.Errorf("exec with a TTY printed %q, want a /dev/pts tty and PONG", out)
		}
	})

	t.Run("BadImageRejectsWrites", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		ta.create(t, ns, ta.pod("bad", "redis:7.0-bad", nil))
		p := ta.waitPod(t, ns, "bad", 60*time.Second, "running and ready", podReady)
		rc := redisClient(t, p.Status.PodIP)
		if err := rc.Get(t.Context(), "missing").Err(); err != redis.Nil {
			t.Errorf("GET on redis:7.0-bad: %v, want nil reply", err)
		}
		if err := rc.Set(t.Context(), "k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "OOM") {
			t.Errorf("SET on redis:7.0-bad: %v, want an OOM error", err)
		}
	})

	t.Run("ImageChangeInPlace", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		ta.create(t, ns, ta.pod("upgrade", "redis:7.0", nil))
		p := ta.waitPod(t, ns, "upgrade", 60*time.Second, "running and ready", podReady)
		info, err := redisClient(t, p.Status.PodIP).Info(t.Context(), "server").Result()
		if err != nil {
			t.Fatal(err)
		}
		before := field(info, "run_id")
		patch := []byte(`{"spec":{"containers":[{"name":"redis","image":"redis:7.0-next"}]}}`)
		if _, err := ta.cs.CoreV1().Pods(ns).Patch(t.Context(), "upgrade", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		p = ta.waitPod(t, ns, "upgrade", 60*time.Second, "running redis:7.0-next", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return podReady(p) && len(cs) == 1 && cs[0].Image == "redis:7.0-next" && cs[0].RestartCount == 1
		})
		info, err = redisClient(t, p.Status.PodIP).Info(t.Context(), "server").Result()
		if err != nil {
			t.Fatal(err)
		}
		if after := field(info, "run_id"); after == before {
			t.Errorf("run_id %s unchanged after the image change", after)
		}
	})

	t.Run("HTTPAndStartupProbes", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("python3"); err != nil {
			t.Skip("python3 (the HTTP server of this test) is not installed")
		}
		ns := devtest.Get(t).Namespace
		ta.create(t, ns, ta.pod("web", "busybox", func(c *corev1.Container) {
			// The agent expands $(POD_IP) in args; the server listens there only.
			c.Command = []string{"python3", "-m", "http.server", "8080", "--bind", "$(POD_IP)"}
			c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
			c.StartupProbe = &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}},
				PeriodSeconds:    1,
				FailureThreshold: 30,
			}
			c.ReadinessProbe = &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
				PeriodSeconds: 1,
			}
		}))
		p := ta.waitPod(t, ns, "web", 60*time.Second, "ready through the HTTP probe", podReady)
		cs := p.Status.ContainerStatuses[0]
		if cs.Started == nil || !*cs.Started || cs.RestartCount != 0 {
			t.Errorf("container status %+v", cs)
		}
		// A failing HTTP readiness probe makes the pod unready.
		ta.create(t, ns, ta.pod("web404", "busybox", func(c *corev1.Container) {
			c.Command = []string{"python3", "-m", "http.server", "8080", "--bind", "$(POD_IP)"}
			c.ReadinessProbe = &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/no-such-page", Port: intstr.FromInt32(8080)}},
				PeriodSeconds: 1,
			}
		}))
		p = ta.waitPod(t, ns, "web404", 60*time.Second, "running, unready (404)", func(p *corev1.Pod) bool {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.ContainersReady && c.Status == corev1.ConditionFalse && p.Status.Phase == corev1.PodRunning {
					return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
				}
			}
			return false
		})
		waitFor(t, 30*time.Second, "Unhealthy event for web404", func() (bool, string) {
			ev, err := ta.cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{FieldSelector: "involvedObject.name=web404,reason=Unhealthy"})
			if err != nil {
				return false, err.Error()
			}
			for _, e := range ev.Items {
				if strings.Contains(e.Message, "404") {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d events", len(ev.Items))
		}, false)
	})

	t.Run("ConfigMapVolumeUpdates", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		cm, err := ta.cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "live"}, Data: map[string]string{"value": "v1"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		const dir = "/tmp/nodeagent-test/live"
		p := ta.pod("reader", "redis:7.0", func(c *corev1.Container) {
			c.VolumeMounts = []corev1.VolumeMount{{Name: "live", MountPath: dir}}
		})
		p.Spec.Volumes = []corev1.Volume{{Name: "live", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "live"}},
		}}}
		ta.create(t, ns, p)
		ta.waitPod(t, ns, "reader", 60*time.Second, "running and ready", podReady)
		read := func() (bool, string) {
			out, err := ta.exec(t, ns, "reader", []string{"cat", dir + "/value"}, nil, false)
			if err != nil {
				return false, err.Error()
			}
			return true, out
		}
		if ok, got := read(); !ok || got != "v1" {
			t.Fatalf("the pod reads %q from its ConfigMap volume, want v1", got)
		}
		// The host path of the mount point shows nothing: the volume is
		// mounted in the pod's own mount namespace only.
		if b, err := os.ReadFile(dir + "/value"); err == nil {
			t.Errorf("the host sees the pod's volume at %s: %q", dir, b)
		}
		cm.Data["value"] = "v2"
		if _, err := ta.cs.CoreV1().ConfigMaps(ns).Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "updated ConfigMap seen in the pod", func() (bool, string) {
			ok, got := read()
			return ok && got == "v2", got
		}, true)
	})

	t.Run("MainProcessExitEndsContainer", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		p := ta.pod("leaver", "busybox", func(c *corev1.Container) {
			// A background child keeps stdout open: the container must
			// still end with its main process, and the child with it.
			c.Command = []string{"sh", "-c", "sleep 300 & echo $! > /tmp/nodeagent-test-leaver.pid; echo bye; exit 4"}
		})
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		t.Cleanup(func() { os.Remove("/tmp/nodeagent-test-leaver.pid") })
		start := time.Now()
		ta.create(t, ns, p)
		got := ta.waitPod(t, ns, "leaver", 30*time.Second, "failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("the pod took %s to fail", d)
		}
		if term := got.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 4 {
			t.Errorf("state %+v, want terminated with exit code 4", got.Status.ContainerStatuses[0].State)
		}
		if b, err := os.ReadFile("/tmp/nodeagent-test-leaver.pid"); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				waitFor(t, 10*time.Second, "background child killed", func() (bool, string) { return !processAlive(pid), "" }, false)
			}
		}
		if logs := strings.TrimSpace(env.Kubectl(t, "-n", ns, "logs", "leaver")); logs != "bye" {
			t.Errorf("logs %q", logs)
		}
	})

	t.Run("Attach", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		ta.create(t, ns, ta.pod("ticker", "busybox", func(c *corev1.Container) {
			c.Command = []string{"sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"}
		}))
		ta.waitPod(t, ns, "ticker", 60*time.Second, "running and ready", podReady)
		req := ta.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("ticker").SubResource("attach").
			VersionedParams(&corev1.PodAttachOptions{Container: "redis", Stdout: true}, scheme.ParameterCodec)
		ex, err := remotecommand.NewSPDYExecutor(ta.env.RESTConfig, "POST", req.URL())
		if err != nil {
			t.Fatal(err)
		}
		var out syncbuf.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out}) }()
		waitFor(t, 20*time.Second, "attached output", func() (bool, string) {
			return strings.Count(out.String(), "tick ") >= 2, out.String()
		}, true)
	})

	t.Run("PortForward", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		// Ready only once Redis listens: client-go ends the whole
		// port-forward ("lost connection to pod") when the agent's dial
		// of one forwarded connection fails, and without a probe a pod
		// is ready as soon as redis-server starts, which on a loaded host
		// was before it listened (make test, 2026-12-04, twice).
		ta.create(t, ns, ta.pod("fwd", "redis:7.0", func(c *corev1.Container) {
			c.ReadinessProbe = &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(6379)}},
				PeriodSeconds: 1,
			}
		}))
		ta.waitPod(t, ns, "fwd", 60*time.Second, "running and ready", podReady)
		transport, upgrader, err := spdy.RoundTripperFor(ta.env.RESTConfig)
		if err != nil {
			t.Fatal(err)
		}
		u := ta.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("fwd").SubResource("portforward").URL()
		dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
		stop, ready := make(chan struct{}), make(chan struct{})
		defer close(stop)
		fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:6379"}, stop, ready, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		// ForwardPorts returns (and closes its listener) when the stream
		// to the agent ends: its error says why a PING was refused.
		forwarded := make(chan error, 1)
		go func() { forwarded <- fw.ForwardPorts() }()
		select {
		case <-ready:
		case err := <-forwarded:
			t.Fatalf("port-forward ended before it was ready: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("port-forward not ready")
		}
		ports, err := fw.GetPorts()
		if err != nil || len(ports) != 1 {
			t.Fatalf("ports %v %v", ports, err)
		}
		rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", ports[0].Local)})
		defer rc.Close()
		if got, err := rc.Ping(t.Context()).Result(); err != nil || got != "PONG" {
			select {
			case ferr := <-forwarded:
				t.Errorf("PING through port-forward: %q %v (the port-forward had ended: %v)", got, err, ferr)
			default:
				t.Errorf("PING through port-forward: %q %v (the port-forward still runs)", got, err)
			}
		}
	})

	t.Run("UnknownImage", func(t *testing.T) {
		t.Parallel()
		ns := devtest.Get(t).Namespace
		ta.create(t, ns, ta.pod("nginx", "nginx:1.27", nil))
		p := ta.waitPod(t, ns, "nginx", 60*time.Second, "waiting with ErrImagePull", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
				p.Status.ContainerStatuses[0].State.Waiting.Reason == "ErrImagePull"
		})
		if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "not mapped") {
			t.Errorf("waiting message %q does not say the image is not mapped", msg)
		}
		if p.Status.Phase != corev1.PodPending {
			t.Errorf("phase %s, want Pending", p.Status.Phase)
		}
	})
}

// field reads "name:value" from INFO output.
func field(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// exec runs cmd in the pod's first container through the apiserver's
// pods/exec (client-go's SPDY executor) and returns stdout+stderr.
func (ta *testAgent) exec(t *testing.T, ns, pod string, cmd []string, stdin io.Reader, tty bool) (string, error) {
	opts := &corev1.PodExecOptions{Command: cmd, Stdin: stdin != nil, Stdout: true, Stderr: !tty, TTY: tty}
	req := ta.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(opts, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(ta.env.RESTConfig, "POST", req.URL())
	if err != nil {
		return "", err
	}
	var out syncbuf.Buffer
	so := remotecommand.StreamOptions{Stdin: stdin, Stdout: &out, Tty: tty}
	if !tty {
		so.Stderr = &out
	}
	err = ex.StreamWithContext(t.Context(), so)
	return out.String(), err
}

// freeSubnetOffset finds a subnet offset from start (in steps of 10) whose
// node addresses have a free kubelet port, so that two test binaries of
// this package can run at once.
func freeSubnetOffset(t *testing.T, start, nodes int) int {
	t.Helper()
	for off := start; off+nodes <= 250; off += 10 {
		free := true
		for i := 0; i < nodes && free; i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("10.244.%d.1:10250", off+i+1))
			if err != nil {
				free = false
				continue
			}
			ln.Close()
		}
		if free {
			return off
		}
	}
	t.Fatalf("no free 10.244.x.1:10250 range from offset %d (is 10.244.0.0/16 routed to lo?)", start)
	return 0
}
