package devcluster_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/dayops/dayops/internal/devcluster"
	"github.com/dayops/dayops/internal/devcluster/devrun"
	"github.com/dayops/dayops/internal/devcluster/devtest"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// eventually polls cond every 100ms until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func redisPod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64(5)),
			Containers: []corev1.Container{{
				Name:  "redis",
				Image: "redis:7.0",
				Ports: []corev1.ContainerPort{{Name: "redis", ContainerPort: 6379}},
			}},
		},
	}
}

// waitRunning waits until the pod runs with an IP and returns it.
func waitRunning(t *testing.T, cs kubernetes.Interface, ns, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 60*time.Second, "pod "+name+" running", func() error {
		p, err := cs.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			return fmt.Errorf("phase %s, ip %q, conditions %v", p.Status.Phase, p.Status.PodIP, p.Status.Conditions)
		}
		pod = p
		return nil
	})
	return pod
}

func TestKubectlGetPodsWide(t *testing.T) {
	env := devtest.Get(t)
	cs := env.Clientset
	if _, err := cs.CoreV1().Pods(env.Namespace).Create(t.Context(), redisPod("wide", map[string]string{"app": "wide"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitRunning(t, cs, env.Namespace, "wide")
	node, err := cs.CoreV1().Nodes().Get(t.Context(), pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	zone := node.Labels[corev1.LabelTopologyZone]
	if zone == "" {
		t.Fatalf("node %s has no %s label: %v", node.Name, corev1.LabelTopologyZone, node.Labels)
	}

	out := env.Kubectl(t, "get", "pods", "-n", env.Namespace, "-o", "wide")
	row := findRow(t, out, "wide")
	for _, want := range []string{"Running", pod.Spec.NodeName, pod.Status.PodIP} {
		if !slices.Contains(row, want) {
			t.Errorf("kubectl get pods -o wide: row %v lacks %q\n%s", row, want, out)
		}
	}
	header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
	for _, col := range []string{"NODE", "IP"} {
		if !slices.Contains(header, col) {
			t.Errorf("kubectl get pods -o wide: no %s column\n%s", col, out)
		}
	}

	out = env.Kubectl(t, "get", "nodes", "-L", corev1.LabelTopologyZone)
	if !strings.Contains(strings.SplitN(out, "\n", 2)[0], "ZONE") {
		t.Errorf("kubectl get nodes -L %s: no zone column\n%s", corev1.LabelTopologyZone, out)
	}
	if row := findRow(t, out, node.Name); !slices.Contains(row, zone) {
		t.Errorf("kubectl get nodes: row %v lacks zone %q\n%s", row, zone, out)
	}

	// A zone label copied onto the pod shows as a column of `get pods` too.
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, corev1.LabelTopologyZone, zone)
	if _, err := cs.CoreV1().Pods(env.Namespace).Patch(t.Context(), "wide", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	out = env.Kubectl(t, "get", "pods", "-n", env.Namespace, "-o", "wide", "-L", corev1.LabelTopologyZone)
	if row := findRow(t, out, "wide"); !slices.Contains(row, zone) || !slices.Contains(row, pod.Status.PodIP) {
		t.Errorf("kubectl get pods -o wide -L zone: row %v lacks zone %q or IP\n%s", row, zone, out)
	}

	// The server is the v1.36.3 we built, not the machine's other kubectl.
	if out := env.Kubectl(t, "version"); !strings.Contains(out, "v1.36.3") {
		t.Errorf("kubectl version does not say v1.36.3:\n%s", out)
	}
}

func findRow(t *testing.T, table, first string) []string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == first {
			return f
		}
	}
	t.Fatalf("no row %q in:\n%s", first, table)
	return nil
}

func sliceIPs(t *testing.T, cs kubernetes.Interface, ns, svc string) ([]string, error) {
	list, err := cs.DiscoveryV1().EndpointSlices(ns).List(t.Context(), metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc,
	})
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			ips = append(ips, ep.Addresses...)
		}
	}
	slices.Sort(ips)
	return ips, nil
}

func TestServiceEndpointSlicesFollowLabels(t *testing.T) {
	env := devtest.Get(t)
	cs, ns := env.Clientset, env.Namespace
	for _, name := range []string{"a", "b"} {
		if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), redisPod(name, map[string]string{"app": "svc", "role": "member"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	a, b := waitRunning(t, cs, ns, "a"), waitRunning(t, cs, ns, "b")
	_, err := cs.CoreV1().Services(ns).Create(t.Context(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "members"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "svc", "role": "member"},
			Ports:    []corev1.ServicePort{{Name: "redis", Port: 6379, TargetPort: intstr.FromInt32(6379)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expect := func(what string, want ...string) {
		t.Helper()
		slices.Sort(want)
		eventually(t, 30*time.Second, what, func() error {
			got, err := sliceIPs(t, cs, ns, "members")
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, got); diff != "" {
				return fmt.Errorf("EndpointSlice addresses (-want +got):\n%s", diff)
			}
			return nil
		})
	}
	expect("both pods behind the service", a.Status.PodIP, b.Status.PodIP)

	relabel := func(pod, role string) {
		t.Helper()
		patch := fmt.Sprintf(`{"metadata":{"labels":{"role":%q}}}`, role)
		if _, err := cs.CoreV1().Pods(ns).Patch(t.Context(), pod, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	relabel("b", "spare")
	expect("b moved out", a.Status.PodIP)
	relabel("b", "member")
	expect("b moved back in", a.Status.PodIP, b.Status.PodIP)
}

func TestDeletingOwnerCollectsDependents(t *testing.T) {
	env := devtest.Get(t)
	cs, ns := env.Clientset, env.Namespace
	owner, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "owner"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "dependent", OwnerReferences: ref},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := redisPod("dependent-pod", nil)
	pod.OwnerReferences = ref
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A bystander without an owner reference must survive.
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "bystander"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := cs.CoreV1().ConfigMaps(ns).Delete(t.Context(), owner.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "dependents garbage-collected", func() error {
		if _, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "dependent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("configmap dependent still there (err %v)", err)
		}
		if _, err := cs.CoreV1().Pods(ns).Get(t.Context(), "dependent-pod", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("pod dependent-pod still there (err %v)", err)
		}
		return nil
	})
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "bystander", metav1.GetOptions{}); err != nil {
		t.Errorf("bystander configmap: %v", err)
	}
}

func TestTemporalWorkflowRoundTrip(t *testing.T) {
	env := devtest.Get(t)
	cl := env.TemporalClient(t)

	// dayops' search attributes are registered by `dev up`.
	sas, err := cl.OperatorService().ListSearchAttributes(t.Context(), &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range devcluster.SearchAttributes {
		if got := sas.GetCustomAttributes()[name]; got != enums.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s: got %v, want Keyword", name, got)
		}
	}

	queue := "devcluster-test-" + env.Namespace
	w := worker.New(cl, queue, worker.Options{})
	devrun.Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	run, err := cl.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: "ping-" + env.Namespace, TaskQueue: queue}, devrun.PingWorkflow, devrun.PingInput{Message: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	var got devrun.PingResult
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	want := devrun.PingResult{Reply: "pong: hello", TaskQueue: queue}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PingWorkflow result (-want +got):\n%s", diff)
	}
}

// TestLifecycle runs a second, agent-less stack on other ports in a state
// dir of its own (the shared stack keeps serving the other tests) through
// up, up again, a killed component, a killed run, status and down.
func TestLifecycle(t *testing.T) {
	env := devtest.Get(t) // for the database and bin/ paths
	root := env.Root
	cfg := devcluster.DefaultConfig(root)
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	useFreePorts(t, &cfg)
	cfg.NoAgent = true
	cfg.DatabaseURL = env.NewDatabase(t)
	cfg.StartTimeout = 2 * time.Minute
	flags := []string{"--state-dir", cfg.StateDir, "--no-agent",
		"--temporal-port", fmt.Sprint(cfg.TemporalPort), "--temporal-ui-port", fmt.Sprint(cfg.TemporalUIPort),
		"--etcd-port", fmt.Sprint(cfg.EtcdPort), "--etcd-peer-port", fmt.Sprint(cfg.EtcdPeerPort),
		"--apiserver-port", fmt.Sprint(cfg.APIServerPort),
		"--controller-manager-port", fmt.Sprint(cfg.ControllerManagerPort), "--scheduler-port", fmt.Sprint(cfg.SchedulerPort)}
	ctx := t.Context()
	st := upForTest(t, cfg, "agent-less stack")
	all := []string{devcluster.Temporal, devcluster.Etcd, devcluster.APIServer, devcluster.ControllerManager, devcluster.Scheduler}
	if diff := cmp.Diff(all, st.Started); diff != "" {
		t.Errorf("first up started (-want +got):\n%s", diff)
	}
	envFile, err := devcluster.ReadEnvFile(st.EnvFile)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := devcluster.APITokens(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := map[string]string{
		"DAYOPS_TOKEN":         tok.Operator,
		"DAYOPS_AUDITOR_TOKEN": tok.Auditor,
		"KUBECONFIG":           filepath.Join(cfg.StateDir, "kubeconfig"),
		"TEMPORAL_ADDRESS":     fmt.Sprintf("127.0.0.1:%d", cfg.TemporalPort),
		"TEMPORAL_UI":          fmt.Sprintf("http://127.0.0.1:%d", cfg.TemporalUIPort),
		"DATABASE_URL":         cfg.DatabaseURL,
		"DAYOPS_API":           "http://127.0.0.1:8080",
		"DAYOPS_STATE_DIR":     cfg.StateDir,
	}
	if diff := cmp.Diff(wantEnv, envFile); diff != "" {
		t.Errorf("dev.env (-want +got):\n%s", diff)
	}
	cs, err := devcluster.Clientset(st.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("admin kubeconfig: %v", err)
	}

	// Up again is harmless.
	st, err = devcluster.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !st.AlreadyRunning() {
		t.Errorf("second up started %v, want nothing", st.Started)
	}

	// status through the CLI: exit 0 and every component ok.
	devBin := filepath.Join(env.BinDir, "dayops-dev")
	out, err := exec.CommandContext(ctx, devBin, append([]string{"dev", "status"}, flags...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dev status: %v\n%s", err, out)
	}
	for _, name := range all {
		if row := findRow(t, string(out), name); len(row) < 3 || row[2] != "ok" {
			t.Errorf("dev status row %v, want health ok\n%s", row, out)
		}
	}

	// A killed component shows in status (exit 1) and is restarted alone.
	pids := pidsOf(t, ctx, cfg)
	kill(t, pids[devcluster.Scheduler])
	eventually(t, 10*time.Second, "scheduler reported down", func() error {
		out, err := exec.CommandContext(ctx, devBin, append([]string{"dev", "status"}, flags...)...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			return fmt.Errorf("dev status exit %v, want 1\n%s", err, out)
		}
		if row := findRow(t, string(out), devcluster.Scheduler); row[1] != "-" {
			return fmt.Errorf("scheduler row %v", row)
		}
		return nil
	})
	st, err = devcluster.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{devcluster.Scheduler}, st.Started); diff != "" {
		t.Errorf("up after a killed scheduler started (-want +got):\n%s", diff)
	}

	// A killed run: every process SIGKILLed, stack.json and etcd's data
	// left behind. Up recovers and the cluster's data survives.
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "survivor"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pidsOf(t, ctx, cfg) {
		kill(t, pid)
	}
	start := time.Now()
	st, err = devcluster.Up(ctx, cfg)
	if err != nil {
		t.Fatalf("up after a killed run: %v", err)
	}
	t.Logf("recovered from a killed run in %s", time.Since(start).Round(10*time.Millisecond))
	if diff := cmp.Diff(all, st.Started); diff != "" {
		t.Errorf("up after a killed run started (-want +got):\n%s", diff)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "survivor", metav1.GetOptions{}); err != nil {
		t.Errorf("data written before the kill: %v", err)
	}

	// Down stops everything; a second down is harmless.
	pids = pidsOf(t, ctx, cfg)
	if err := devcluster.Down(ctx, cfg, devcluster.DownOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, pid := range pids {
		if syscall.Kill(pid, 0) == nil && !isZombie(pid) {
			t.Errorf("%s (pid %d) still running after down", name, pid)
		}
	}
	if _, err := os.Stat(st.EnvFile); !os.IsNotExist(err) {
		t.Errorf("dev.env still there after down: %v", err)
	}
	if err := devcluster.Down(ctx, cfg, devcluster.DownOptions{}); err != nil {
		t.Errorf("second down: %v", err)
	}
	sts, err := devcluster.Status(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.Running {
			t.Errorf("%s running after down", s.Name)
		}
	}
}

// TestDownStopsTheAgentAndItsPods runs a second stack with an agent of its
// own (one node) and checks that down stops a running
// pod's process through the agent, before the control plane goes away.
func TestDownStopsTheAgentAndItsPods(t *testing.T) {
	env := devtest.Get(t)
	cfg := devcluster.DefaultConfig(env.Root)
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	useFreePorts(t, &cfg)
	cfg.Zones, cfg.NodesPerZone = 1, 1
	// One node on 10.244.(151..200).1, away from the shared stack's agent
	// (offset 0), the agent package's tests (offsets 100-116 and 220-250:
	// TestAgentRestart) and helpers' stacks at low offsets.
	cfg.AgentArgs = []string{"--subnet-offset", fmt.Sprint(150 + rand.IntN(50)), "--node-prefix", "down"}
	cfg.DatabaseURL = env.NewDatabase(t)
	ctx := t.Context()
	st := upForTest(t, cfg, "stack with agent")
	cs, err := devcluster.Clientset(st.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "default service account", func() error {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if _, err := cs.CoreV1().Pods("default").Create(ctx, redisPod("doomed", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitRunning(t, cs, "default", "doomed")
	addr := net.JoinHostPort(pod.Status.PodIP, "6379")
	eventually(t, 30*time.Second, "redis answers on "+addr, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})

	if err := devcluster.Down(ctx, cfg, devcluster.DownOptions{}); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("pod process still listens on %s after down", addr)
	}
}

// useFreePorts gives a second stack ports nothing listens on, so that it
// runs beside the shared stack and beside another run of these tests.
// upForTest starts a stack of the test's own with cfg, stopped again at
// the test's end, and logs how long it took to come up.
func upForTest(t *testing.T, cfg devcluster.Config, what string) *devcluster.Stack {
	t.Helper()
	t.Cleanup(func() {
		if err := devcluster.Down(context.Background(), cfg, devcluster.DownOptions{}); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
	})
	start := time.Now()
	st, err := devcluster.Up(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s up in %s", what, time.Since(start).Round(10*time.Millisecond))
	return st
}

func useFreePorts(t *testing.T, cfg *devcluster.Config) {
	t.Helper()
	// Ports come from [10000, 20000): below the kernel's ephemeral range
	// (32768-60999), so no outgoing connection or ":0" listener of a
	// package tested beside this one can take a port between the pick and
	// a restart, and apart from redistest's [20000, 30000).
	var ports []int
	taken := map[int]bool{}
	start := rand.IntN(10000)
	for i := 0; len(ports) < 7 && i < 10000; i++ {
		p := 10000 + (start+i)%10000
		if taken[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		taken[p] = true
		ports = append(ports, p)
	}
	if len(ports) < 7 {
		t.Fatalf("only %d free ports in [10000, 20000)", len(ports))
	}
	cfg.TemporalPort, cfg.TemporalUIPort = ports[0], ports[1]
	cfg.EtcdPort, cfg.EtcdPeerPort = ports[2], ports[3]
	cfg.APIServerPort = ports[4]
	cfg.ControllerManagerPort, cfg.SchedulerPort = ports[5], ports[6]
}

func pidsOf(t *testing.T, ctx context.Context, cfg devcluster.Config) map[string]int {
	t.Helper()
	sts, err := devcluster.Status(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, s := range sts {
		if s.Running {
			out[s.Name] = s.PID
		}
	}
	return out
}

func kill(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("no pid to kill")
	}
	// ESRCH: the process is gone already (a component may exit on its own
	// once another one it needs was killed), which is what the caller wants.
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		t.Fatalf("kill %d: %v", pid, err)
	}
	eventually(t, 10*time.Second, fmt.Sprintf("pid %d gone", pid), func() error {
		if syscall.Kill(pid, 0) == nil && !isZombie(pid) {
			return fmt.Errorf("still running")
		}
		return nil
	})
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && (s[i+2] == 'Z' || s[i+2] == 'X')
}
