package chaosbench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/workflows"
)

// FreezeFor is how long freeze-primary keeps the primary's redis-server
// stopped: well past the 5 s cluster-node-timeout dayops renders, so that
// Redis promotes the replica before the old primary comes back.
const FreezeFor = 12 * time.Second

// Options of one scenario's measurement.
type measure struct {
	label string
	shard int
	// promotes: the fault must make Redis promote a replica of the shard
	// and the Service follow it (an error otherwise).
	promotes bool
	fault    func(ctx context.Context, f *Figure) error
}

// RepairLimit bounds the wait for full redundancy after a fault.
const RepairLimit = 5 * time.Minute

// run injects one fault and measures it: promotion, Service, redundancy,
// write gap, writes failed and lost, filled keys lost.
func (b *Bench) run(ctx context.Context, m measure) (Figure, error) {
	f := Figure{Scenario: m.label}
	if _, err := b.Credentials(ctx); err != nil {
		return f, err
	}
	primaryIP, ips, err := b.shardIPs(ctx, m.shard)
	if err != nil {
		return f, err
	}
	span, err := b.Begin(ctx)
	if err != nil {
		return f, err
	}
	watch := b.watchPromotion(ctx, m.shard, ips)
	began := time.Now()
	b.Log.Info("chaos: fault", "scenario", m.label, "shard", m.shard)
	if err := m.fault(ctx, &f); err != nil {
		watch.stop()
		return f, fmt.Errorf("%s: %w", m.label, err)
	}
	// The guardian must have seen the fault before its "whole" means
	// anything. A process crash can be repaired by Redis alone between two
	// of its looks (a restart, a partial resync): then the shard's own
	// answers date the repair.
	shard := newShardProbe(b.password, append([]string{primaryIP}, ips...))
	defer shard.close()
	seen, broken, wholeAt, err := b.awaitDegraded(ctx, shard, began)
	if err != nil {
		return f, err
	}
	if !seen && !wholeAt.IsZero() {
		f.Redundancy = wholeAt.Sub(began)
		if broken {
			f.Note = join(f.Note, "repaired by Redis before the guardian saw it degraded (redundancy: when the shard's own ROLE answers were whole again)")
		} else {
			f.Note = join(f.Note, "neither the guardian nor a ROLE probe every 50 ms saw the shard degraded")
		}
	} else {
		whole, err := b.WaitWhole(ctx, RepairLimit)
		if err != nil {
			watch.stop()
			return f, fmt.Errorf("%s: %w", m.label, err)
		}
		f.Redundancy = whole.Sub(began)
	}
	watch.waitService(ctx, 30*time.Second)
	promotedAt, serviceAt := watch.stop()
	if !promotedAt.IsZero() {
		f.Promoted = promotedAt.Sub(began)
	}
	if !serviceAt.IsZero() {
		f.Service = serviceAt.Sub(began)
		f.ServiceAfterPromotion = serviceAt.Sub(promotedAt)
	}
	if err := b.End(ctx, span, &f); err != nil {
		return f, err
	}
	b.Log.Info("chaos: repaired", "scenario", m.label, "promoted", f.Promoted, "service", f.Service, "redundancy", f.Redundancy,
		"gap", f.Gap, "acked_lost", f.AckedLost, "keys_lost", f.KeysLost)
	if m.promotes && (f.Promoted == 0 || f.Service == 0) {
		return f, fmt.Errorf("%s: promotion after %s, Service followed after %s: want both", m.label, f.Promoted, f.Service)
	}
	return f, nil
}

// Measure runs fault as a scenario of its own on shard (promotes: a
// replica must be promoted and the Service follow it).
func (b *Bench) Measure(ctx context.Context, label string, shard int, promotes bool, fault func(context.Context, *Figure) error) (Figure, error) {
	return b.run(ctx, measure{label: label, shard: shard, promotes: promotes, fault: fault})
}

// shardIPs are the pod IPs of a shard's primary and of its replicas.
func (b *Bench) shardIPs(ctx context.Context, shard int) (primaryIP string, replicaIPs []string, err error) {
	reps, err := b.ReplicasOf(ctx, shard)
	if err != nil {
		return "", nil, err
	}
	prim, err := b.PrimaryOf(ctx, shard)
	if err != nil {
		return "", nil, err
	}
	for _, p := range reps {
		if p.Status.PodIP != "" {
			replicaIPs = append(replicaIPs, p.Status.PodIP)
		}
	}
	return prim.Status.PodIP, replicaIPs, nil
}

// awaitDegraded waits up to 15 s for the guardian to see the shard degraded
// after the fault (seen), probing the shard's own answers meanwhile: broken
// when they were not whole, wholeAt when they were whole again since.
func (b *Bench) awaitDegraded(ctx context.Context, shard *shardProbe, began time.Time) (seen, broken bool, wholeAt time.Time, err error) {
	for until := time.Now().Add(15 * time.Second); time.Now().Before(until); {
		if gh, err := b.Health(ctx); err == nil && gh.ObservedAt.After(began) && (gh.State != "Healthy" || gh.Ready != gh.Desired) {
			return true, broken, wholeAt, nil
		}
		if !shard.whole(ctx) {
			broken, wholeAt = true, time.Time{}
		} else if wholeAt.IsZero() {
			wholeAt = time.Now()
		}
		if err := benchkit.Sleep(ctx, 50*time.Millisecond); err != nil {
			return false, broken, wholeAt, err
		}
	}
	return false, broken, wholeAt, nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// ForceDeletePrimary force-deletes the Pod of shard's primary (its node
// vanished): Redis promotes the replica, the guardian relabels and the
// Service follows, then a recover operation brings the ordinal back.
func (b *Bench) ForceDeletePrimary(ctx context.Context, shard int) (Figure, error) {
	return b.run(ctx, measure{label: "force-delete a primary Pod", shard: shard, promotes: true,
		fault: func(ctx context.Context, f *Figure) error {
			p, err := b.PrimaryOf(ctx, shard)
			if err != nil {
				return err
			}
			return benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, p.Name)
		}})
}

// DeleteReplicaAndPVC deletes the Pod of one of shard's replicas and its
// volume: the recover operation makes a new PVC.
func (b *Bench) DeleteReplicaAndPVC(ctx context.Context, shard int) (Figure, error) {
	return b.run(ctx, measure{label: "delete a replica Pod and its PVC", shard: shard,
		fault: func(ctx context.Context, f *Figure) error {
			rep, err := b.FirstReplicaOf(ctx, shard)
			if err != nil {
				return err
			}
			for _, v := range rep.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					if err := b.Kube.CoreV1().PersistentVolumeClaims(b.Namespace).Delete(ctx, v.PersistentVolumeClaim.ClaimName, metav1.DeleteOptions{}); err != nil {
						return fmt.Errorf("delete pvc %s: %w", v.PersistentVolumeClaim.ClaimName, err)
					}
				}
			}
			if err := b.Kube.CoreV1().Pods(b.Namespace).Delete(ctx, rep.Name, metav1.DeleteOptions{}); err != nil {
				return fmt.Errorf("delete pod %s: %w", rep.Name, err)
			}
			f.Note = "Pod " + rep.Name
			return nil
		}})
}

// KillWorkerMidRecovery force-deletes shard's primary Pod and SIGKILLs the
// worker once the recover operation the guardian starts has done four
// steps, then starts another worker: the recovery finishes once.
func (b *Bench) KillWorkerMidRecovery(ctx context.Context, shard int) (Figure, error) {
	prev, err := b.Health(ctx)
	if err != nil {
		return Figure{}, err
	}
	return b.run(ctx, measure{label: "force-delete a primary Pod, worker killed mid-recovery", shard: shard, promotes: true,
		fault: func(ctx context.Context, f *Figure) error {
			p, err := b.PrimaryOf(ctx, shard)
			if err != nil {
				return err
			}
			if err := benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, p.Name); err != nil {
				return err
			}
			deadline := time.Now().Add(2 * time.Minute)
			for {
				if gh, err := b.Health(ctx); err == nil && gh.LastRecovery != "" && gh.LastRecovery != prev.LastRecovery {
					var op apiv1.Operation
					if err := b.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+gh.LastRecovery, nil, nil, &op); err == nil &&
						op.Status == "Running" && op.Progress.StepsDone >= 4 {
						if err := b.Worker.Kill(); err != nil {
							return err
						}
						f.Note = fmt.Sprintf("worker SIGKILLed during %s at step %d (%s)", op.OperationID, op.Progress.StepsDone, op.Progress.Step)
						f.OperationID, f.RunID = op.OperationID, op.RunID
						return b.Worker.Start()
					}
				}
				if time.Now().After(deadline) {
					return errors.New("no recovery to interrupt within 2m")
				}
				if err := benchkit.Sleep(ctx, 30*time.Millisecond); err != nil {
					return err
				}
			}
		}})
}

// WorkerDownReplicaLost SIGKILLs the worker, force-deletes a replica Pod of
// shard, and starts the worker 3 s later: repaired once it is back.
func (b *Bench) WorkerDownReplicaLost(ctx context.Context, shard int) (Figure, error) {
	return b.run(ctx, measure{label: "worker down while a replica Pod is lost", shard: shard,
		fault: func(ctx context.Context, f *Figure) error {
			rep, err := b.FirstReplicaOf(ctx, shard)
			if err != nil {
				return err
			}
			if err := b.Worker.Kill(); err != nil {
				return err
			}
			if err := benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, rep.Name); err != nil {
				return err
			}
			if err := benchkit.Sleep(ctx, 3*time.Second); err != nil { // the worker stays down a while
				return err
			}
			return b.Worker.Start()
		}})
}

// Switchover asks for a switchover of shard (a dry run first, whose plan
// goes in the note) and measures it like a fault.
func (b *Bench) Switchover(ctx context.Context, shard int) (Figure, error) {
	return b.run(ctx, measure{label: "switchover under writes", shard: shard, promotes: true,
		fault: func(ctx context.Context, f *Figure) error {
			path := "/v1/clusters/" + b.Cluster + "/operations"
			var dry apiv1.OperationAccepted
			if err := b.Operator.Do(ctx, http.MethodPost, path, url.Values{"namespace": {b.Namespace}, "dryRun": {"true"}},
				map[string]any{"type": "switchover", "shard": shard}, &dry); err != nil {
				return fmt.Errorf("dry run: %w", err)
			}
			var acc apiv1.OperationAccepted
			if err := b.Operator.Do(ctx, http.MethodPost, path, url.Values{"namespace": {b.Namespace}},
				map[string]any{"type": "switchover", "shard": shard, "reason": "chaos bench"}, &acc); err != nil {
				return err
			}
			f.OperationID, f.RunID = acc.OperationID, acc.RunID
			f.Note = "plan: " + dry.Plan.Summary
			op, err := b.WaitOperation(ctx, acc.OperationID, 3*time.Minute)
			if err != nil {
				return err
			}
			if op.Progress.Outcome != apiv1.OutcomeSucceeded {
				return fmt.Errorf("switchover ended %s/%s: %s %s", op.Status, op.Progress.Outcome, op.Error, op.Progress.Message)
			}
			return nil
		}})
}

// KillRedisPrimary SIGKILLs the redis-server of shard's primary: a process
// crash; the container restarts it (with the cluster's persistence, and
// under the instance manager's fence).
func (b *Bench) KillRedisPrimary(ctx context.Context, shard int, label string) (Figure, error) {
	return b.run(ctx, measure{label: label, shard: shard,
		fault: func(ctx context.Context, f *Figure) error {
			_, err := b.signalPrimary(ctx, shard, syscall.SIGKILL, "SIGKILL", f)
			return err
		}})
}

// signalPrimary sends sig to the redis-server of shard's primary and notes
// it in f; it returns the primary's Pod IP.
func (b *Bench) signalPrimary(ctx context.Context, shard int, sig syscall.Signal, name string, f *Figure) (string, error) {
	p, err := b.PrimaryOf(ctx, shard)
	if err != nil {
		return "", err
	}
	pids, err := benchkit.SignalRedis(p.Status.PodIP, sig)
	if err == nil {
		f.Note = join(f.Note, fmt.Sprintf("%s to redis-server %v of %s", name, pids, p.Name))
	}
	return p.Status.PodIP, err
}

// FreezePrimary stops shard's primary redis-server (SIGSTOP) for freeze,
// past cluster-node-timeout, then lets it go on (SIGCONT): a hung process.
// Redis promotes the replica; the old primary wakes claiming the shard with
// an older config epoch until the news reaches it, then follows. WAIT keeps
// its last writes from being acknowledged: they reach no replica.
func (b *Bench) FreezePrimary(ctx context.Context, shard int, freeze time.Duration) (Figure, error) {
	return b.run(ctx, measure{label: fmt.Sprintf("SIGSTOP a primary redis-server for %s, then SIGCONT", freeze), shard: shard, promotes: true,
		fault: func(ctx context.Context, f *Figure) error {
			ip, err := b.signalPrimary(ctx, shard, syscall.SIGSTOP, "SIGSTOP", f)
			if err != nil {
				return err
			}
			// SIGCONT even on error: no stopped process outlives the scenario.
			defer func() {
				if _, err := benchkit.SignalRedis(ip, syscall.SIGCONT); err != nil {
					f.Note = join(f.Note, "SIGCONT: "+err.Error())
				}
			}()
			return benchkit.Sleep(ctx, freeze)
		}})
}

// LoseNode cordons the Kubernetes node of shard's primary and force-deletes
// every Pod of the cluster on it (a node failure); the node is uncordoned
// once the cluster is whole again.
func (b *Bench) LoseNode(ctx context.Context, shard int) (Figure, error) {
	p, err := b.PrimaryOf(ctx, shard)
	if err != nil {
		return Figure{}, err
	}
	node := p.Spec.NodeName
	if err := benchkit.Cordon(ctx, b.Kube, node, true); err != nil {
		return Figure{}, err
	}
	defer func() {
		if err := benchkit.Cordon(context.WithoutCancel(ctx), b.Kube, node, false); err != nil {
			b.Log.Warn("uncordon", "node", node, "err", err)
		}
	}()
	return b.run(ctx, measure{label: "lose every Pod of one node", shard: shard, promotes: true,
		fault: func(ctx context.Context, f *Figure) error {
			all, err := b.pods(ctx, "")
			if err != nil {
				return err
			}
			var lost []string
			for _, p := range all {
				if p.Spec.NodeName == node {
					if err := benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, p.Name); err != nil {
						return err
					}
					lost = append(lost, p.Name)
				}
			}
			f.Note = fmt.Sprintf("node %s: %v", node, lost)
			return nil
		}})
}

// RecoverWhileBusy loses a replica Pod of shard while an upgrade of the
// cluster holds it (baking its canary with a 10-minute bake): the guardian
// must not start a recovery and a recover request is refused (409) while the
// upgrade runs; the upgrade is then aborted, and once it has ended the
// recovery is admitted and repairs. hold is how long the loss is left
// waiting before the abort. Pick a shard other than the canary (shard 0).
func (b *Bench) RecoverWhileBusy(ctx context.Context, shard int, image string, hold time.Duration) (Figure, error) {
	path := "/v1/clusters/" + b.Cluster + "/operations"
	nsq := url.Values{"namespace": {b.Namespace}}
	var acc apiv1.OperationAccepted
	if err := b.Operator.Do(ctx, http.MethodPost, path, nsq, map[string]any{"type": "upgrade", "image": image, "bake": "10m",
		"gate": map[string]any{"interval": "5s"}, "reason": "chaos bench: an operation that holds the cluster"}, &acc); err != nil {
		return Figure{}, fmt.Errorf("start upgrade: %w", err)
	}
	// Wait for the canary's bake: the upgrade holds the cluster and touches
	// no other shard until it is approved or aborted.
	if err := b.WaitBaking(ctx, acc.OperationID); err != nil {
		return Figure{}, err
	}
	prev, err := b.Health(ctx)
	if err != nil {
		return Figure{}, err
	}
	var held time.Duration // from the loss to the upgrade's end
	f, err := b.run(ctx, measure{label: "replica Pod lost while an upgrade holds the cluster", shard: shard,
		fault: func(ctx context.Context, f *Figure) error {
			faultAt := time.Now() // the measurement's start, near enough
			rep, err := b.FirstReplicaOf(ctx, shard)
			if err != nil {
				return err
			}
			if err := benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, rep.Name); err != nil {
				return err
			}
			lostAt := time.Now()
			busy, refused, endedAlone, err := b.holdBusy(ctx, acc.OperationID, path, nsq, prev.LastRecovery, lostAt, hold)
			if err != nil {
				return err
			}
			if !endedAlone && !busy {
				return fmt.Errorf("in %s the guardian never reported Busy while upgrade %s ran", hold, acc.OperationID)
			}
			if !endedAlone {
				var ans apiv1.DecisionAnswer
				err := b.Operator.Do(ctx, http.MethodPost, "/v1/operations/"+acc.OperationID+"/abort", nil, apiv1.DecisionBody{Reason: "chaos bench: let the recovery in"}, &ans)
				var apiErr *cli.APIError
				if err != nil && !(errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict) { // 409: it ended meanwhile
					return fmt.Errorf("abort upgrade: %w", err)
				}
			}
			up, err := b.WaitOperation(ctx, acc.OperationID, 10*time.Minute)
			if err != nil {
				return err
			}
			rec, err := b.awaitRecovery(ctx, prev.LastRecovery, up)
			if err != nil {
				return err
			}
			if rec.StartedAt.Before(up.ClosedAt) {
				return fmt.Errorf("recover %s started at %s, before upgrade %s ended at %s", rec.OperationID, rec.StartedAt, up.OperationID, up.ClosedAt)
			}
			f.OperationID, f.RunID = rec.OperationID, rec.RunID
			how := "aborted"
			if endedAlone {
				how = "ended by itself"
			}
			f.Note = fmt.Sprintf("upgrade %s held the cluster %.1fs after the loss (guardian Busy %v; recover by hand refused 409: %q), %s, %s/%s; the guardian's recover %s started %.1fs after it ended",
				acc.OperationID, up.ClosedAt.Sub(lostAt).Seconds(), busy, refused, how, up.Status, up.Progress.Outcome, rec.OperationID, rec.StartedAt.Sub(up.ClosedAt).Seconds())
			held = up.ClosedAt.Sub(faultAt)
			return nil
		}})
	if err == nil && held > 0 && len(b.Figures) > 0 {
		f.Note = join(f.Note, fmt.Sprintf("full redundancy %.1fs after the upgrade ended", (f.Redundancy-held).Seconds()))
		b.Figures[len(b.Figures)-1] = f
	}
	return f, err
}

// WaitBaking waits (up to 5 minutes) for upgrade id to reach its canary's
// bake: it then holds the cluster and touches no other shard until it is
// approved or aborted.
func (b *Bench) WaitBaking(ctx context.Context, id string) error {
	for deadline := time.Now().Add(5 * time.Minute); ; {
		var op apiv1.Operation
		if err := b.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+id, nil, nil, &op); err == nil {
			if op.Status != "Running" {
				return fmt.Errorf("upgrade ended %s/%s before its bake: %s", op.Status, op.Progress.Outcome, op.Error)
			}
			if u := op.Progress.Upgrade; u != nil && u.Stage == workflows.StageBaking {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("the upgrade did not reach its bake in 5m")
		}
		if err := benchkit.Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// holdBusy keeps up to hold after a loss at lostAt while upgrade id runs:
// the guardian must be Busy and start no recovery (lastRecovery stays), and
// a recover request is refused. The upgrade may also end by itself (its
// gate sees the loss): then the hold ends early (endedAlone). While busy the
// guardian reports no loss, only Busy.
func (b *Bench) holdBusy(ctx context.Context, id, path string, nsq url.Values, lastRecovery string, lostAt time.Time, hold time.Duration) (busy bool, refused string, endedAlone bool, err error) {
	upgradeRunning := func() (bool, error) {
		var op apiv1.Operation
		if err := b.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+id, nil, nil, &op); err != nil {
			return false, err
		}
		return op.Status == "Running", nil
	}
	for time.Since(lostAt) < hold {
		running, err := upgradeRunning()
		if err != nil {
			return busy, refused, endedAlone, err
		}
		if !running {
			endedAlone = true
			break
		}
		if gh, err := b.Health(ctx); err == nil {
			if gh.LastRecovery != lastRecovery {
				if running, err := upgradeRunning(); err != nil || running {
					return busy, refused, endedAlone, fmt.Errorf("the guardian started recover %s while upgrade %s held the cluster", gh.LastRecovery, id)
				}
			}
			busy = busy || gh.State == "Busy"
		}
		if refused == "" {
			var ans apiv1.OperationAccepted
			err := b.Operator.Do(ctx, http.MethodPost, path, nsq, map[string]any{"type": "recover", "reason": "chaos bench: by hand while busy"}, &ans)
			var apiErr *cli.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict {
				return busy, refused, endedAlone, fmt.Errorf("a recover request while upgrade %s runs: want 409, got %v (%+v)", id, err, ans)
			}
			refused = apiErr.Detail
		}
		if err := benchkit.Sleep(ctx, 200*time.Millisecond); err != nil {
			return busy, refused, endedAlone, err
		}
	}
	return busy, refused, endedAlone, nil
}

// awaitRecovery waits (up to 2 minutes) for the guardian's next recovery
// after lastRecovery and returns it. It must begin after the upgrade up ended.
func (b *Bench) awaitRecovery(ctx context.Context, lastRecovery string, up apiv1.Operation) (apiv1.Operation, error) {
	var rec apiv1.Operation
	for deadline := time.Now().Add(2 * time.Minute); ; {
		gh, err := b.Health(ctx)
		if err == nil && gh.LastRecovery != lastRecovery {
			if err := b.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+gh.LastRecovery, nil, nil, &rec); err == nil {
				return rec, nil
			}
		}
		if time.Now().After(deadline) {
			return rec, fmt.Errorf("no recovery within 2m of the upgrade's end (%s/%s)", up.Status, up.Progress.Outcome)
		}
		if err := benchkit.Sleep(ctx, 100*time.Millisecond); err != nil {
			return rec, err
		}
	}
}

// WaitOperation polls an operation until it is no longer running and
// returns its last state, whatever the outcome.
func (b *Bench) WaitOperation(ctx context.Context, id string, limit time.Duration) (apiv1.Operation, error) {
	return benchkit.WaitEnded(ctx, b.Auditor, 100*time.Millisecond, id, limit)
}
