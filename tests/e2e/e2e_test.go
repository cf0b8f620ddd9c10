// Package e2e runs whole operations on the local stack (real Temporal,
// Kubernetes control plane, node agent, redis-server and PostgreSQL) while a
// cluster client writes and records every acknowledged write.
package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/temporaltls"
	"github.com/dayops/dayops/internal/testutil/audittally"
	"github.com/dayops/dayops/internal/testutil/dayopstest"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// worker is a `dayops server --roles worker` process.
type worker struct {
	cmd *exec.Cmd
	log string
}

// startWorker starts worker process n of d; env adds to (or, for a
// variable already set, replaces) its environment.
func startWorker(t *testing.T, bin string, d *dayopstest.Dayops, n int, env ...string) *worker {
	t.Helper()
	log := filepath.Join(t.TempDir(), fmt.Sprintf("worker-%d.log", n))
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", "--roles", "worker")
	cmd.Env = append(os.Environ(), "DAYOPS_ROLES=worker", "DAYOPS_TASK_QUEUE="+d.Config.TaskQueue, "TEMPORAL_ADDRESS="+d.Config.TemporalAddress,
		"KUBECONFIG="+d.Config.Kubeconfig, "DATABASE_URL="+d.Config.DatabaseURL,
		// info, not warn: TestOperationsEndToEnd greps the log for the password.
		"DAYOPS_LOG_LEVEL=info",
		// Tests serve their HTTP hooks on loopback.
		"DAYOPS_HOOK_ALLOW=127.0.0.1", "DAYOPS_CALL_KEYS="+d.Config.CallKeys)
	cmd.Env = append(cmd.Env, env...) // the last of duplicate variables counts
	cmd.Stdout, cmd.Stderr = f, f
	if tl := d.Config.TemporalTLS; tl.Enabled() { // a stack whose Temporal requires mutual TLS
		cmd.Env = append(cmd.Env, temporaltls.EnvCert+"="+tl.Cert, temporaltls.EnvKey+"="+tl.Key,
			temporaltls.EnvCA+"="+tl.CA, temporaltls.EnvServerName+"="+tl.ServerName)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &worker{cmd: cmd, log: log}
	t.Cleanup(func() { w.kill(syscall.SIGTERM) })
	return w
}

func (w *worker) kill(sig syscall.Signal) {
	if w.cmd.ProcessState == nil {
		_ = w.cmd.Process.Signal(sig)
		_ = w.cmd.Wait()
	}
}

type harness struct {
	t  *testing.T
	d  *dayopstest.Dayops
	ns string
}

func (h *harness) start(path string, q url.Values, body any) httpapi.OperationAccepted {
	h.t.Helper()
	var acc httpapi.OperationAccepted
	method := http.MethodPost
	if body == nil {
		method = http.MethodDelete
	}
	if err := h.d.Operator.Do(h.t.Context(), method, path, q, body, &acc); err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return acc
}

// wait polls the operation every 250 ms until it ends, fails the test
// unless it succeeded, and records its history; onProgress sees every poll.
func (h *harness) wait(id string, limit time.Duration, onProgress func(httpapi.Operation)) httpapi.Operation {
	h.t.Helper()
	return h.waitEvery(id, limit, 250*time.Millisecond, onProgress)
}

// waitFast is wait with a 30 ms poll, so that a callback can act mid-step.
func (h *harness) waitFast(id string, limit time.Duration, onProgress func(httpapi.Operation)) httpapi.Operation {
	h.t.Helper()
	return h.waitEvery(id, limit, 30*time.Millisecond, onProgress)
}

func (h *harness) waitEvery(id string, limit, poll time.Duration, onProgress func(httpapi.Operation)) httpapi.Operation {
	h.t.Helper()
	op := h.follow(id, limit, poll, onProgress)
	if op.Status != "Completed" || op.Progress.Outcome != "succeeded" {
		h.t.Fatalf("operation %s ended %s: %s %s", id, op.Status, op.Error, op.Progress.Message)
	}
	h.recordHistory(op, op.Type, true)
	return op
}

// follow polls the operation every poll until it is no longer running and
// returns its last state, whatever the outcome; onProgress sees every poll.
func (h *harness) follow(id string, limit, poll time.Duration, onProgress func(httpapi.Operation)) httpapi.Operation {
	h.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var op httpapi.Operation
		err := h.d.Auditor.Do(h.t.Context(), http.MethodGet, "/v1/operations/"+id, nil, nil, &op)
		if err == nil {
			if onProgress != nil {
				onProgress(op)
			}
			if op.Status != "Running" {
				return op
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("operation %s still running after %s: %+v (last error %v)", id, limit, op.Progress, err)
		}
		time.Sleep(poll)
	}
}

// buildDayops builds the dayops binary of this checkout into a temporary
// directory, for tests that run the worker or the CLI as a process.
func buildDayops(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dayops")
	build := exec.Command("go", "build", "-o", bin, "./cmd/dayops")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build dayops: %v\n%s", err, out)
	}
	return bin
}

// recordHistory saves the operation's Temporal history as
// internal/workflows/testdata/histories/<name>.json when
// DAYOPS_RECORD_HISTORIES=1, for the replay tests that guard determinism;
// keepFirst keeps a file already there (the first operation of each type).
func (h *harness) recordHistory(op httpapi.Operation, name string, keepFirst bool) {
	h.t.Helper()
	if os.Getenv("DAYOPS_RECORD_HISTORIES") == "" {
		return
	}
	path := filepath.Join(h.d.Env.Root, "internal", "workflows", "testdata", "histories", name+".json")
	if _, err := os.Stat(path); err == nil && keepFirst {
		return
	}
	out, err := exec.Command(filepath.Join(h.d.Env.BinDir, "temporal"), "workflow", "show", "--address", h.d.Config.TemporalAddress,
		"--workflow-id", op.WorkflowID, "--run-id", op.RunID, "--output", "json").Output()
	if err != nil {
		h.t.Errorf("record history of %s: %v", op.OperationID, err)
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		h.t.Error(err)
		return
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		h.t.Error(err)
	}
}

func (h *harness) cluster(name string) httpapi.ClusterDetail {
	h.t.Helper()
	var c httpapi.ClusterDetail
	if err := h.d.Auditor.Do(h.t.Context(), http.MethodGet, "/v1/clusters/"+name, url.Values{"namespace": {h.ns}}, nil, &c); err != nil {
		h.t.Fatal(err)
	}
	return c
}

func TestOperationsEndToEnd(t *testing.T) {
	env := devtest.Get(t)
	ctx := t.Context()
	bin := buildDayops(t, env.Root)
	apiLog, err := os.Create(filepath.Join(t.TempDir(), "api.log"))
	if err != nil {
		t.Fatal(err)
	}
	d := dayopstest.Start(t, env, dayopstest.Options{NoWorker: true, Log: apiLog})
	w := startWorker(t, bin, d, 1)
	logs := []string{apiLog.Name(), w.log}
	h := &harness{t: t, d: d, ns: env.Namespace}
	const name = "e2e"
	nsq := url.Values{"namespace": {h.ns}}

	// Create 3 shards x 1 replica.
	began := time.Now()
	acc := h.start("/v1/clusters", nil, map[string]any{"name": name, "namespace": h.ns, "shards": 3, "replicasPerShard": 1, "reason": "e2e"})
	h.wait(acc.OperationID, 5*time.Minute, nil)
	t.Logf("create 3x1: %s", time.Since(began).Round(time.Millisecond))
	checkZones(t, h.cluster(name))

	creds := credentials(t, d, h.ns, name)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: creds.Addresses, Password: creds.Password, MaxRedirects: 16})
	defer cc.Close()
	if err := redistest.Fill(ctx, cc, "fill:", 100_000, 100, 8); err != nil {
		t.Fatal(err)
	}
	writer := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 20_000, Workers: 4})
	writer.TakeLatency()

	step := func(label string, body map[string]any, onProgress func(httpapi.Operation)) {
		t.Helper()
		began := time.Now()
		before := writer.Stats()
		acc := h.start("/v1/clusters/"+name+"/operations", nsq, body)
		wait := h.wait
		if onProgress != nil {
			wait = h.waitFast // a callback that acts mid-step must not miss a short phase
		}
		op := wait(acc.OperationID, 10*time.Minute, onProgress)
		after := writer.Stats()
		lat := writer.TakeLatency()
		t.Logf("%s: %s; slots %d, keys moved %d; writes acked %d, failed %d, latency %s (longest write %s)",
			label, time.Since(began).Round(time.Millisecond), op.Progress.SlotsMoved, op.Progress.KeysMoved,
			after.Acked-before.Acked, after.Failed-before.Failed, lat, lat.Max)
		checkZones(t, h.cluster(name))
	}

	// Scale out 3 -> 4, killing the worker in the middle of the migration
	// and starting another: the operation must finish once. The kill comes
	// from Redis' own state, not from the operation's progress: a slot left
	// open (MIGRATING) on a source means keys are moving. Polling the
	// progress alone missed a migration that took less than two polls (make
	// test, 2026-12-04, once moves got faster).
	first := w
	killedAt := make(chan string, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			if open := redistest.OpenSlot(watchCtx, cc); open != "" {
				first.kill(syscall.SIGKILL)
				killedAt <- open
				return
			}
			select {
			case <-watchCtx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	killed := false
	step("scale-shards 3->4 (worker SIGKILLed mid-migration)", map[string]any{"type": "scale-shards", "shards": 4, "reason": "e2e"}, func(op httpapi.Operation) {
		select {
		case open := <-killedAt:
			killed = true
			t.Logf("worker SIGKILLed with slot %s open on its source", open)
			w = startWorker(t, bin, d, 2)
			logs = append(logs, w.log)
		default:
		}
	})
	stopWatch()
	<-watchDone
	select {
	case open := <-killedAt: // killed after the last poll: the next operations need a worker
		killed = true
		t.Logf("worker killed with a slot open (%s) after the operation's last poll", open)
		w = startWorker(t, bin, d, 2)
		logs = append(logs, w.log)
	default:
	}
	if !killed {
		t.Error("the worker was never killed mid-migration (no slot was seen open while the operation ran)")
	}
	// Cancel a scale-out 4 -> 5 in the middle of its migration: the operation
	// ends cancelled and no slot is left open.
	acc = h.start("/v1/clusters/"+name+"/operations", nsq, map[string]any{"type": "scale-shards", "shards": 5, "reason": "e2e cancel"})
	cancelled := false
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var op httpapi.Operation
		if err := d.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+acc.OperationID, nil, nil, &op); err != nil {
			t.Fatal(err)
		}
		if !cancelled && op.Progress.Phase == "migrating" && op.Progress.SlotsMoved > 0 {
			t.Logf("cancelling scale-out 4->5 at %d/%d slots", op.Progress.SlotsMoved, op.Progress.SlotsTotal)
			var ack httpapi.Operation
			if err := d.Operator.Do(ctx, http.MethodPost, "/v1/operations/"+acc.OperationID+"/cancel", nil, nil, &ack); err != nil {
				t.Fatal(err)
			}
			cancelled = true
			continue
		}
		if op.Status != "Running" {
			if !cancelled || op.Status != "Canceled" {
				t.Fatalf("scale-out 4->5 ended %s (cancel sent: %v): %s", op.Status, cancelled, op.Error)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancelled scale-out did not end")
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := h.cluster(name)
	if len(after.Health.OpenSlots) > 0 || !after.Healthy {
		t.Fatalf("after cancel: open slots %v, healthy %v, problems %v", after.Health.OpenSlots, after.Healthy, after.Health.Problems)
	}
	clusterCheck(t, creds)

	// Scale in 5 -> 3 while dayops' database (API and worker) goes down
	// three times for 2 s in the operation's first 12 s, as PostgreSQL
	// restarts or failovers would: every connection ended, new ones refused.
	// The audit appends go again once it is back, no step fails for it, the
	// operation ends once, and every step is still recorded once
	// (checkAuditExactlyOnce and the chain's verification below).
	var outages *databaseOutages
	step("scale-shards 5->3 (drains two shards; the database down 2 s of every 4 s for 12 s)",
		map[string]any{"type": "scale-shards", "shards": 3, "reason": "e2e"}, func(op httpapi.Operation) {
			if outages == nil {
				outages = startDatabaseOutages(t, d, 2*time.Second, 2*time.Second, 12*time.Second)
			}
			if op.Status != "Running" {
				outages.stop()
			}
		})
	down := outages.stop()
	retried := linesWith(t, "after the database was unavailable", logs...)
	// Steps that failed for the database and ran again: any audit write a
	// step could not make, whatever the driver said (a terminated backend, a
	// refused or closed connection), but for a step of the cancelled
	// scale-out above that was cancelled before it began.
	var failed []string
	for _, l := range linesWith(t, `msg="Activity error."`, logs...) {
		if strings.Contains(l, "record step") && !strings.Contains(l, "context canceled") {
			failed = append(failed, l)
		}
	}
	t.Logf("PostgreSQL: %d outages ended %d connections of dayops (%d outages could not begin); %d audit appends went again, %d steps failed for it",
		down.Outages, down.Backends, down.Errors, len(retried), len(failed))
	for _, l := range retried {
		t.Logf("  %.300s", l)
	}
	// Whether an append falls into an outage depends on where the steps'
	// boundaries fall (a migration step writes nothing for seconds): 1-19
	// appends went again in the runs of 2026-12-05. That an append rides an
	// outage out is asserted by auditlog's TestRecordRidesOutTerminatedConnections;
	// here the outages must have ended dayops' connections.
	if down.Outages == 0 || down.Backends == 0 {
		t.Errorf("the database outages did not reach dayops (%d outages, %d connections ended)", down.Outages, down.Backends)
	}
	for _, l := range failed {
		t.Errorf("a step failed for the database instead of riding out a 2 s outage: %s", l)
	}
	step("scale-replicas 1->2", map[string]any{"type": "scale-replicas", "replicasPerShard": 2, "allowSharedZones": false, "reason": "e2e"}, nil)
	step("scale-replicas 2->1", map[string]any{"type": "scale-replicas", "replicasPerShard": 1, "reason": "e2e"}, nil)

	stats := writer.Stop()
	checked, err := writer.Verify(ctx, cc)
	if err != nil {
		t.Fatalf("acknowledged writes lost: %v", err)
	}
	t.Logf("writer: %d acked, %d failed, %d keys verified", stats.Acked, stats.Failed, checked)
	var total int64
	c := h.cluster(name)
	for _, i := range c.Instances {
		if i.Role == "primary" {
			total += i.Keys
		}
	}
	if want := int64(100_000 + checked); total < want {
		t.Errorf("primaries hold %d keys, want at least %d", total, want)
	}
	if len(c.Instances) != 6 || !c.Healthy {
		t.Errorf("after the round trip: %d instances, healthy=%v %v", len(c.Instances), c.Healthy, c.Health.Problems)
	}

	// The real redis-cli agrees.
	clusterCheck(t, creds)

	// The real kubectl shows labels and zones; Services select the primaries.
	pods := env.Kubectl(t, "get", "pods", "-n", h.ns, "-l", "dayops.io/cluster="+name, "-o", "wide",
		"-L", "dayops.io/shard,dayops.io/role,topology.kubernetes.io/zone")
	t.Logf("kubectl get pods:\n%s", pods)
	for _, i := range c.Instances {
		if !strings.Contains(pods, i.Pod) {
			t.Errorf("kubectl does not list %s", i.Pod)
		}
	}
	checkServices(t, env, h.ns, name, c)

	// The audit log holds every step exactly once.
	checkAuditExactlyOnce(t, d, operation.ClusterKey(h.ns, name))
	var rep apiv1.AuditVerifyReport
	if err := d.Auditor.Do(ctx, http.MethodPost, "/v1/audit/verify", nil, apiv1.AuditVerifyRequest{AllowNoCheckpoint: true}, &rep); err != nil {
		t.Fatal(err)
	} else if !rep.Intact {
		t.Errorf("audit chain after the database's connections were terminated: %+v", rep)
	}

	acc = h.start("/v1/clusters/"+name, url.Values{"namespace": {h.ns}, "deleteVolumes": {"true"}, "reason": {"e2e done"}}, nil)
	h.wait(acc.OperationID, 5*time.Minute, nil)
	if l, _ := env.Clientset.CoreV1().Pods(h.ns).List(ctx, metav1.ListOptions{LabelSelector: "dayops.io/cluster=" + name}); len(l.Items) > 0 {
		t.Errorf("%d pods left after delete", len(l.Items))
	}

	// After the whole scenario (a credential read, five operations, a killed
	// worker, a cancel, a delete), the password is in no event, no history
	// and no log line.
	checkNoSecret(t, d, creds.Password, logs...)
}

// clusterCheck runs the real `redis-cli --cluster check`: every slot covered,
// no open slot, no error or warning.
func clusterCheck(t *testing.T, creds httpapi.Credentials) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "redis-cli", "--no-auth-warning", "-a", creds.Password, "--cluster", "check", creds.Addresses[0]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "[OK] All 16384 slots covered.") || strings.Contains(string(out), "[ERR]") || strings.Contains(string(out), "[WARNING]") {
		t.Errorf("redis-cli --cluster check: %v\n%s", err, out)
	}
}

// checkZones: no primary shares a zone with one of its replicas.
func checkZones(t *testing.T, c httpapi.ClusterDetail) {
	t.Helper()
	byShard := map[int][]httpapi.ClusterInstance{}
	for _, i := range c.Instances {
		byShard[i.Shard] = append(byShard[i.Shard], i)
	}
	for s, is := range byShard {
		var zones []string
		for _, i := range is {
			if i.Zone == "" || slices.Contains(zones, i.Zone) {
				t.Errorf("shard-%d: two instances in zone %q: %+v", s, i.Zone, is)
			}
			zones = append(zones, i.Zone)
		}
	}
}

// checkServices: each shard Service's EndpointSlices hold exactly its primary.
func checkServices(t *testing.T, env *devtest.Env, ns, name string, c httpapi.ClusterDetail) {
	t.Helper()
	for _, i := range c.Instances {
		if i.Role != "primary" {
			continue
		}
		svc := name + "-shard-" + strconv.Itoa(i.Shard)
		ip, _, _ := strings.Cut(i.Address, ":")
		deadline := time.Now().Add(30 * time.Second)
		for {
			slices_, err := env.Clientset.DiscoveryV1().EndpointSlices(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
			var addrs []string
			if err == nil {
				for _, s := range slices_.Items {
					for _, e := range s.Endpoints {
						addrs = append(addrs, e.Addresses...)
					}
				}
			}
			if slices.Equal(addrs, []string{ip}) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("service %s selects %v, want the primary %s", svc, addrs, ip)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// tallyAudit reads the cluster's audit log and fails t for every step not
// recorded exactly once, and for every step that started and never ended.
func tallyAudit(t *testing.T, d *dayopstest.Dayops, cluster string) audittally.Tally {
	t.Helper()
	a := audittally.Of(d.Events(t, eventstore.Filter{Cluster: cluster}))
	a.CheckSteps(t, cluster)
	a.CheckEnded(t, cluster)
	return a
}

// checkAuditExactlyOnce: every step of every operation is recorded once, and
// every operation has a start and an end.
func checkAuditExactlyOnce(t *testing.T, d *dayopstest.Dayops, cluster string) {
	t.Helper()
	a := tallyAudit(t, d, cluster)
	for id, kinds := range a.Ops {
		if !slices.Equal(kinds, []string{"started", "completed"}) && !slices.Equal(kinds, []string{"started", "cancelled"}) {
			t.Errorf("audit: operation %s has %v", id, kinds)
		}
	}
	if len(a.Ops) < 5 {
		t.Errorf("audit: %d operations recorded, want at least 5 completed (create, 2 shard scales, 2 replica scales)", len(a.Ops))
	}
	t.Logf("audit: %d events, %d operations, %d step records, each once", a.Events, len(a.Ops), len(a.Steps))
}
