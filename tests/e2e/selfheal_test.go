package e2e

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/bench/chaosbench/diskfull"
	"github.com/dayops/dayops/bench/chaosbench/drain"
	"github.com/dayops/dayops/bench/chaosbench/heldloss"
	"github.com/dayops/dayops/bench/chaosbench/kubedown"
	"github.com/dayops/dayops/bench/chaosbench/majority"
	"github.com/dayops/dayops/bench/chaosbench/openslot"
	"github.com/dayops/dayops/bench/chaosbench/shardloss"
	"github.com/dayops/dayops/bench/chaosbench/stale"
	"github.com/dayops/dayops/bench/chaosbench/stranger"
	"github.com/dayops/dayops/bench/chaosbench/stray"
	"github.com/dayops/dayops/bench/chaosbench/targetkill"
	"github.com/dayops/dayops/bench/chaosbench/temporaldown"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/testutil/apiproxy"
	"github.com/dayops/dayops/internal/testutil/dayopstest"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows"
)

type healHarness struct {
	*harness
	env     *devtest.Env
	name    string
	bin     string
	w       *worker
	workers int
	logs    []string // every worker's log
	// api, when set, stands between the workers and the Kubernetes API
	// server (kubeconfig is theirs): the kube-api-down scenario takes the
	// API away from them alone; temporal between them and Temporal
	// (temporal-down).
	api, temporal *apiproxy.Proxy
	kubeconfig    string
}

func (h *healHarness) startWorker() {
	h.workers++
	var env []string
	if h.kubeconfig != "" {
		env = append(env, "KUBECONFIG="+h.kubeconfig)
	}
	if h.temporal != nil {
		env = append(env, "TEMPORAL_ADDRESS="+h.temporal.Addr())
	}
	h.w = startWorker(h.t, h.bin, h.d, h.workers, env...)
	h.logs = append(h.logs, h.w.log)
}

// dumpOnFailure keeps, when the test failed, what the instance managers,
// redis-servers and workers said: the namespace and the workers' logs go
// with the test (a recovered instance stayed fenced for 5 minutes once in
// make test's audit-db-down, and its logs went with it). Register it after
// the first worker started: cleanups run last first, and the workers' logs
// live in the test's temporary directory.
func (h *healHarness) dumpOnFailure() {
	h.t.Cleanup(func() {
		if !h.t.Failed() {
			return
		}
		dumpRedisLogs(h.t, h.env, h.ns, h.name, "")
		for _, l := range h.logs {
			b, err := os.ReadFile(l)
			lines := strings.Split(string(b), "\n")
			h.t.Logf("worker log %s (err %v), last 300 lines:\n%s", l, err, strings.Join(lines[max(0, len(lines)-300):], "\n"))
		}
	})
}

// bench drives the faults of bench/chaosbench on the harness's cluster,
// with the harness's worker process.
func (h *healHarness) bench() *chaosbench.Bench {
	env := chaosbench.Env{Kube: h.env.Clientset, Temporal: h.d.Deps.Temporal, Operator: h.d.Operator, Auditor: h.d.Auditor,
		Namespace: h.ns, Worker: testWorker{h}, Database: pgtest.NewTerminator(h.t, h.d.Config.DatabaseURL)}
	if h.api != nil {
		env.KubeAPI = h.api
	}
	if h.temporal != nil {
		env.TemporalLink = h.temporal
	}
	return chaosbench.New(env, h.name)
}

// testWorker is the harness's worker process as chaosbench drives it.
type testWorker struct{ h *healHarness }

func (w testWorker) PID() int     { return w.h.w.cmd.Process.Pid }
func (w testWorker) Kill() error  { w.h.w.kill(syscall.SIGKILL); return nil }
func (w testWorker) Start() error { w.h.startWorker(); return nil }

// checked fails the test on a scenario's error, logs its figures and
// asserts what must hold after every fault: no acknowledged write lost, no
// filled key lost, the zone rule kept.
func (h *healHarness) checked(f chaosbench.Figure, err error) chaosbench.Figure {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Logf("%s: promoted after %s, Service followed %s after the promotion (%s after the fault), full redundancy after %s, "+
		"longest write gap %s; %d writes acknowledged, %d failed (outcome unknown), %d acknowledged lost; %d of %d keys lost. %s",
		f.Scenario, f.Promoted.Round(time.Millisecond), f.ServiceAfterPromotion.Round(time.Millisecond), f.Service.Round(time.Millisecond),
		f.Redundancy.Round(time.Millisecond), f.Gap.Round(time.Millisecond), f.Acked, f.Failed, f.AckedLost, f.KeysLost, f.KeysBefore, f.Note)
	if f.AckedLost != 0 {
		h.t.Errorf("%s: %d acknowledged writes lost (%s)", f.Scenario, f.AckedLost, f.Note)
	}
	if f.KeysLost != 0 {
		h.t.Errorf("%s: %d of %d keys lost", f.Scenario, f.KeysLost, f.KeysBefore)
	}
	checkZones(h.t, h.cluster(h.name))
	return f
}

func TestSelfHealing(t *testing.T) {
	env := devtest.Get(t)
	ctx := t.Context()
	bin := buildDayops(t, env.Root)
	d := dayopstest.Start(t, env, dayopstest.Options{NoWorker: true})
	h := &healHarness{harness: &harness{t: t, d: d, ns: env.Namespace}, env: env, name: "heal", bin: bin}
	h.kubeconfig = filepath.Join(t.TempDir(), "worker.kubeconfig")
	api, err := apiproxy.StartKube(d.Config.Kubeconfig, h.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() }) // after the workers' own cleanups
	h.api = api
	if h.temporal, err = apiproxy.Start(d.Config.TemporalAddress); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.temporal.Close() })
	h.startWorker()
	h.dumpOnFailure()

	acc := h.start("/v1/clusters", nil, map[string]any{"name": h.name, "namespace": h.ns, "shards": 3, "replicasPerShard": 1,
		"persistence": map[string]any{"mode": "aof"}, "reason": "self-healing e2e"})
	h.wait(acc.OperationID, 5*time.Minute, nil)
	b := h.bench()
	if _, err := b.WaitWhole(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	cost, err := b.MeasureCost(ctx, 65*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(cost)
	if err := b.Fill(ctx, 20_000, 100); err != nil {
		t.Fatal(err)
	}
	// Writes count as acknowledged once a replica has them (WAIT 1): the
	// scenarios lose whole Pods and nodes, and Redis replicates
	// asynchronously, so a write only the primary held when its node
	// vanished is not one any failover can keep (a process crash is another
	// matter: TestFenceEmptyPrimary and the AOF scenario below). Every write
	// checks the value it replaces (SET ... GET), so a lost acknowledged
	// write is caught in the scenario that lost it.
	if err := b.StartWriter(ctx, 1); err != nil {
		t.Fatal(err)
	}

	// 1. A primary's Pod is force-deleted (its node vanished): Redis promotes
	// the replica, the guardian relabels and the Service follows, then a
	// recover operation brings the ordinal back as a replica.
	h.checked(b.ForceDeletePrimary(ctx, 0))
	// 1b. A primary's Pod is deleted the graceful way (a node drain, an
	// eviction): its instance manager has the replica take the shard over
	// (CLUSTER FAILOVER) before redis-server stops, so the shard pauses for
	// the handshake only; drain.Run fails unless the promoted replica
	// started a manual failover or took over without asking for votes
	// (before: Redis failed the stopped primary over, cluster-node-timeout
	// and an election later).
	h.checked(drain.Run(ctx, b, 1))
	// 2. A replica's Pod and its volume are deleted.
	h.checked(b.DeleteReplicaAndPVC(ctx, 1))
	// 3. The worker is SIGKILLed in the middle of a recovery: the recovery
	// finishes once, each step once in the audit log (below).
	h.checked(b.KillWorkerMidRecovery(ctx, 2))
	// 4. The worker is down while a Pod is lost: repaired when it is back.
	h.checked(b.WorkerDownReplicaLost(ctx, 0))
	// 5. Switchover under writes: no acknowledged write lost, a short gap.
	f := h.checked(b.Switchover(ctx, 1))
	h.saveHistory(workflows.WorkflowID(h.ns, h.name), f.RunID, "switchover")
	// 6. SIGKILL a primary's redis-server (AOF): the process restarts, no
	// acknowledged write is lost.
	h.checked(b.KillRedisPrimary(ctx, 2, "SIGKILL a primary redis-server (aof)"))
	// 6b. A primary's redis-server hangs (SIGSTOP) past cluster-node-timeout
	// and comes back (SIGCONT): Redis promotes its replica; the old primary
	// wakes claiming the shard with an older config epoch and must end as a
	// replica, the new primary labelled and behind the Service.
	f = h.checked(b.FreezePrimary(ctx, 1, chaosbench.FreezeFor))
	h.checkFollows(1, f)
	// 7. Every Pod of one Kubernetes node is lost at once (the node is
	// cordoned and its Pods force-deleted, as after a node failure).
	h.checked(b.LoseNode(ctx, 0))
	// 8. A Pod is lost while an upgrade holds the cluster: no recovery and a
	// refused (409) recover request while it runs; once the upgrade is
	// aborted and has ended, the recovery is admitted and repairs.
	h.checked(b.RecoverWhileBusy(ctx, 2, chaosbench.OtherImage(h.cluster(h.name).Spec.Image), 10*time.Second))

	// 9. dayops' own database (the audit log) is down for 45 s while two
	// primaries are lost one after the other: both Services follow while
	// it is still down (the guardian's relabelling never waits for its
	// audit records), and once it is back the losses are repaired and the
	// guardian's events recorded.
	figs, err := b.AuditDatabaseDown(ctx, 0, 1, chaosbench.AuditOutage)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range figs {
		h.checked(f, nil)
	}
	// 10. The Kubernetes API is away from the worker for 45 s while an
	// upgrade bakes its canary (its gates fall into the outage): the
	// upgrade waits for the API and succeeds; it does not roll back.
	h.checked(kubedown.Run(ctx, b, chaosbench.OtherImage(h.cluster(h.name).Spec.Image), kubedown.Outage))
	// 11. The worker loses Temporal for 30 s in the middle of a scale-out's
	// slot migration: the step's attempt is timed out while the worker
	// still runs it; the scale-out must succeed with no slot left open.
	h.checked(temporaldown.Run(ctx, b, temporaldown.Outage))
	// 12. The primary a scale-in drains (the shard scenario 11 added) is
	// SIGKILLed in the middle of the move: it restarts on its AOF, fenced;
	// its replica, connected up to the crash, takes over with the open
	// slots handed to it (the AOF may lack the last writes), and the
	// migration follows the failover; the scale-in must succeed, no slot
	// open, no key lost (the fence's path: a fresh shard's container
	// restarts at once).
	h.checked(targetkill.RunSource(ctx, b))
	// 13. The primary a scale-out moves slots to is SIGKILLed in the middle
	// of the move: it restarts on its AOF, fenced, and the migration
	// resumes; the scale-out must succeed, no slot open, no key lost (it
	// lost 46-199 keys in every run before internal/redis/pipe.Failed).
	h.checked(targetkill.Run(ctx, b))
	// 14. source-kill again, on the shard 13 added: its container, killed
	// twice, restarts only after a back-off longer than
	// cluster-node-timeout. The move holds Redis' failover of its sources;
	// once the cluster flags the source failed, its replica takes over with
	// the open slots in one transaction (sourceguard.TakeOver) and the
	// scale-in continues from it (before: Redis promoted the replica
	// without MIGRATING, and an acknowledged write was lost).
	h.checked(targetkill.RunSource(ctx, b))
	// 15. A primary's Pod is force-deleted while its replicas are held from
	// failover, as a move terminated with its worker down leaves them:
	// Redis promotes no held replica and no mover runs; a replica's
	// instance manager takes the primary over once it has been failed for
	// its grace (before: never, and recover ended ShardHasNoPrimary).
	h.checked(heldloss.Run(ctx, b, 1))
	// 16. The same hold left on shard 0's replicas, no operation running:
	// the guardian clears it (its hold sweep, a FailoverHoldReleased event)
	// and Redis fails the force-deleted primary over by itself (before: the
	// hold stayed until the next move from the shard, and every failover
	// there waited for the manager's takeover).
	h.checked(heldloss.RunStale(ctx, b, 0))
	// 17. A slot of shard 0 left open towards shard 1 with half its keys
	// moved, as a move terminated with its worker down leaves it, and no
	// operation running: the guardian's sweep finds it (two looks 15 s
	// apart) and starts a recover, which closes it (before: nothing closed
	// it, and scale, replica changes and upgrades were refused while it was
	// open, with recover named as the way out).
	h.checked(openslot.RunLeft(ctx, b, 0, 1))
	// 18. Another slot left open the same way, and then shard 1's primary
	// (the target, holding the moved keys) force-deleted at once:
	// the recover closes the slot towards the promoted replica before it
	// brings the Pod back (an OpenSlotsClosed event), and every key of the
	// slot reads back (before: nothing closed the slot, and the source
	// kept sending the moved keys' clients to the dead target, or, once
	// it was back as a replica, to a node that sends them back).
	h.checked(openslot.Run(ctx, b, 0, 1))
	// 19. Every Pod of shard 2 deleted at once, its primary's and its
	// replica's, their volumes kept: Redis has nothing to promote and every
	// shard refuses writes (full coverage). The recover brings both back on
	// their volumes together, each with its node ID, the former primary's
	// manager finding its replica at its new address (before: the recover
	// waited 2 minutes for a promotion that cannot come and failed
	// ShardHasNoPrimary, again every 30-45 s, the data on the volumes).
	h.checked(shardloss.Run(ctx, b, 2))
	// 20. The same, and shard 2's primary's volume deleted with it: the
	// replica's copy is all that is left, and Redis does not promote a
	// replica whose primary was gone before it started. The recover brings
	// the replica back on its volume and has it take the primary's place
	// (CLUSTER FAILOVER TAKEOVER), then the former primary's ordinal comes
	// back as a new replica; no acknowledged write is lost (the writer waits
	// for a replica: the replica had each one).
	h.checked(shardloss.RunData(ctx, b, 2))
	// 20b. The same, and shard 2's replica's volume deleted instead: the
	// primary comes back on its volume, a former primary whose only
	// replica is gone with its data. The recover names it on the Pod, and
	// the primary's fence serves at once, decided (before: it waited its
	// whole 60 s for a replica that would never answer, then served
	// unverified); the replica's ordinal comes back as a new replica.
	h.checked(shardloss.RunReplicaData(ctx, b, 2))
	// 20c. Shard 2's replica's Pod force-deleted with its volume and its
	// primary's redis-server SIGKILLed at once: the primary restarts in
	// place, fenced, its Pod kept (nothing named the gone replica on it).
	// The recover tells its manager the replica is gone with its data
	// (gonenotice) and the fence serves, decided (before: it waited its
	// whole 60 s, the shard refusing writes, then served unverified).
	h.checked(shardloss.RunCrash(ctx, b, 2))
	// 20d. The same with the replica's volume kept: the recover brings the
	// replica back on its volume before it waits for the shard's primary,
	// whose fence finds it and serves decided (before: each waited for the
	// other until the fence's 60 s ran out, and it served unverified).
	h.checked(shardloss.RunCrashKept(ctx, b, 2))
	// 21. Shard 1's primary's volume fills up (its AOF directory swapped
	// for a tmpfs with 1 MiB to spare, filled by writes to its slots):
	// Redis refuses every write to the shard with MISCONF and keeps the
	// primary, its Pod Ready. The guardian's sweep finds it on two sweeps
	// in a row and starts a switchover to the replica (WritesRefused); the
	// former primary stops as a replica on the first write it cannot
	// persist and comes back once the volume has room.
	h.checked(diskfull.Run(ctx, b, 1))
	// 22. A former primary back owning no slot, with its old keys (the
	// state audit-db-down left once: a shard split between two primaries
	// after a slot closer finished one of its load-time imports towards
	// it): a replica of shard 0 restarted with a primary's nodes.conf.
	// The guardian finds it and a recover makes it the shard primary's
	// replica again in place, its old keys discarded (before: nothing did,
	// and the shard had no replica for good).
	h.checked(stray.Run(ctx, b, 0))
	// 23. Shard 1's primary Pod is force-deleted and an empty cluster node
	// with the cluster's password is started at its IP before Redis
	// promotes the replica. The replica reconnects there every second: the
	// link guard locks its masterauth, so the stranger's AUTH fails and the
	// replica keeps the shard's data (without it Redis takes a full resync
	// of nothing: every key of the shard lost). The other nodes flag the
	// lost primary noaddr and Redis never fails it over: the recover has
	// the replica take over (without it the shard stays without a primary).
	if f := h.checked(stranger.Run(ctx, b, 1)); !strings.Contains(f.Note, "was a slave") {
		t.Logf("stranger-at-address: the stranger answered only after the promotion (%s): the guard was not put to the test", f.Note)
	}
	// 24. The primary Pods of shards 0 and 1 are force-deleted at once (a
	// Kubernetes node that held both lost). Redis flags a node failed and
	// elects a replica only with a majority of the primaries: one of three
	// is left, so it promotes nobody and the cluster serves nothing. The
	// recover has shard 0's replica take over (no majority); with two of
	// three primaries live Redis fails shard 1 over by itself.
	h.checked(majority.Run(ctx, b))
	// 25. Shard 2's replica is cut off from its primary for 75 s (the
	// primary refuses it PSYNC), then the primary's Pod is force-deleted,
	// its volume left. Redis finds the replica too old to elect and the
	// shard has no primary: the recover brings the primary back on its
	// volume (before: the recover failed after 2 minutes, again and again).
	h.checked(stale.Run(ctx, b, 2))

	wr, err := b.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if wr.VerifyErr != nil || wr.Lost != 0 {
		t.Fatalf("acknowledged writes lost: %d replaced while writing (first %v; last %v); read back: %v", wr.Lost, wr.FirstLost, wr.LostErr, wr.VerifyErr)
	}
	t.Logf("writer: %d acked, %d failed (unknown outcome), %d run twice by the client's retry, %d keys verified: 0 acknowledged writes lost",
		wr.Acked, wr.Failed, wr.Repeated, wr.Verified)
	creds := credentials(t, d, h.ns, h.name)
	clusterCheck(t, creds)
	c := h.cluster(h.name)
	checkServices(t, env, h.ns, h.name, c)

	// The audit log: every step once; losses, failovers and recoveries are
	// recorded with the system actor.
	a := tallyAudit(t, d, operation.ClusterKey(h.ns, h.name))
	counts := map[string]int{}
	lost := map[int]bool{} // ordinals recorded lost and not yet recovered
	for _, e := range d.Events(t, eventstore.Filter{Cluster: operation.ClusterKey(h.ns, h.name)}) {
		counts[e.Type]++
		if e.Type == audit.TypeInstanceLost && e.Metadata.Actor != audit.SystemActor {
			t.Errorf("InstanceLost recorded by %q", e.Metadata.Actor)
		}
		// Every recovery of an instance follows the record of its loss.
		switch p, err := audit.Decode(e.Type, e.SchemaVersion, e.Payload); p := p.(type) {
		case *audit.InstanceLost:
			lost[p.Ordinal] = true
		case *audit.InstanceRecovered:
			if !lost[p.Ordinal] {
				t.Errorf("InstanceRecovered of ordinal %d (operation %s) at position %d with no InstanceLost before it", p.Ordinal, p.OperationID, e.Position)
			}
			lost[p.Ordinal] = false
		default:
			if err != nil {
				t.Errorf("event at %d: %v", e.Position, err)
			}
		}
	}
	// And every loss is repaired by the end: the state replayed from the
	// log (as an auditor reads it) holds no instance lost and not recovered.
	if lost, err := benchkit.Unrecovered(ctx, d.Auditor, operation.ClusterKey(h.ns, h.name)); err != nil || len(lost) > 0 {
		t.Errorf("the replayed audit state holds instances lost and not recovered: %v (%v)", lost, err)
	}
	for _, typ := range []string{audit.TypeInstanceLost, audit.TypeFailoverObserved, audit.TypeInstanceRecovered, audit.TypeSwitchedOver, audit.TypeHoldReleased,
		audit.TypeOpenSlotsClosed, audit.TypeWritesRefused} {
		if counts[typ] == 0 {
			t.Errorf("no %s event", typ)
		}
	}
	for id, kinds := range a.Ops {
		// The upgrade of scenario 8 ends rolled back: cancelled when the
		// abort comes first, failed (rolled back) when its gate fails on the
		// lost replica first; every other operation completes.
		if len(kinds) != 2 || kinds[0] != "started" || (kinds[1] != "completed" && kinds[1] != "failed(rolled back true)" && kinds[1] != "cancelled") {
			t.Errorf("audit: operation %s has %v", id, kinds)
		}
	}
	t.Logf("audit: %v", counts)
	if gh, err := b.Health(ctx); err == nil {
		t.Logf("guardian cost: %d observations, %d Redis commands (%d instances)", gh.Observations, gh.RedisCommands, gh.Desired)
		h.saveHistory(workflows.GuardianWorkflowID(h.ns, h.name), "", "guardian-running")
	}
	if gh, err := b.Health(ctx); err == nil && gh.LastRecovery != "" {
		var op httpapi.Operation
		if err := d.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+gh.LastRecovery, nil, nil, &op); err == nil {
			h.saveHistory(op.WorkflowID, op.RunID, "recover")
		}
	}

	var tb strings.Builder
	if err := chaosbench.WriteTable(&tb, b.Figures); err != nil {
		t.Fatal(err)
	}
	chaosbench.WriteNotes(&tb, b.Figures)
	t.Logf("figures (%s):\n%s", cost, tb.String())

	acc = h.start("/v1/clusters/"+h.name, url.Values{"namespace": {h.ns}, "deleteVolumes": {"true"}, "reason": {"e2e done"}}, nil)
	h.wait(acc.OperationID, 5*time.Minute, nil)
}

// checkFollows: after a fault that left two instances claiming shard (the
// frozen old primary woke up), exactly one is primary in Redis, and each
// Pod's role label says what Redis says (the label steers the Service).
func (h *healHarness) checkFollows(shard int, f chaosbench.Figure) {
	h.t.Helper()
	primaries := 0
	for _, i := range h.cluster(h.name).Instances {
		if i.Shard != shard {
			continue
		}
		if i.Role == string(topology.RolePrimary) {
			primaries++
		}
		pod, err := h.env.Clientset.CoreV1().Pods(h.ns).Get(h.t.Context(), i.Pod, metav1.GetOptions{})
		if err != nil {
			h.t.Errorf("%s: %v", f.Scenario, err)
			continue
		}
		if l := pod.Labels[render.LabelRole]; l != i.Role {
			h.t.Errorf("%s: %s is %s in Redis but labelled %q", f.Scenario, i.Pod, i.Role, l)
		}
	}
	if primaries != 1 {
		h.t.Errorf("%s: shard-%d has %d primaries, want 1 (%s)", f.Scenario, shard, primaries, f.Note)
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
