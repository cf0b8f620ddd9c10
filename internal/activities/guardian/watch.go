package guardian

import (
	"context"
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/activities/guardian/opstart"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/redis/misconf"
	"github.com/dayops/dayops/internal/redis/slotmigrate/leftopen"
	"go.temporal.io/sdk/activity"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WatchInput is one watch of the guardian.
type WatchInput struct {
	Namespace string               `json:"namespace"`
	Cluster   string               `json:"cluster"`
	Known     map[int]guard.Member `json:"known,omitempty"`
	// Fingerprint is the last assessment's (guard.Assessment.Fingerprint):
	// the watch returns when it changes.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Interval between two observations (default 500ms).
	Interval time.Duration `json:"interval,omitempty"`
	// MaxWait: the watch returns after this long even if nothing changed, so
	// the workflow refreshes its health and continues as new (default 1m).
	MaxWait time.Duration `json:"maxWait,omitempty"`
	// ReturnOnLost: return as soon as an instance is lost and no operation
	// runs, once RecoverNotBefore has passed (the workflow's back-off after
	// a recovery).
	ReturnOnLost     bool      `json:"returnOnLost,omitempty"`
	RecoverNotBefore time.Time `json:"recoverNotBefore,omitzero"`
	// DegradedSince is when the cluster stopped being whole (zero: it is
	// whole), for the time-to-repair metric.
	DegradedSince time.Time `json:"degradedSince,omitzero"`
	// Fences are the fence record IDs already reported, by ordinal: the
	// watch returns when an observation finds another one.
	Fences map[int]string `json:"fences,omitempty"`
}

// WatchResult is the observation that ended the watch.
type WatchResult struct {
	Observation Observation `json:"observation"`
	// Observations is how many looks the watch took; Commands the Redis
	// commands they sent.
	Observations int `json:"observations"`
	Commands     int `json:"commands"`
	// Relabelled accumulates every Pod relabelled during the watch, with
	// the failovers seen then (the workflow records them).
	Relabelled []string         `json:"relabelled,omitempty"`
	Failovers  []guard.Failover `json:"failovers,omitempty"`
	// NoticedAt is when the first failover of Failovers was seen, LabelledAt
	// when the labels were true again.
	NoticedAt  time.Time `json:"noticedAt,omitzero"`
	LabelledAt time.Time `json:"labelledAt,omitzero"`
	// NewFences counts the fence records found that were not in
	// WatchInput.Fences (the observation carries them).
	NewFences int `json:"newFences,omitempty"`
	// HoldsReleased are the failover holds a slot move left behind that
	// the watch cleared (sweepHolds).
	HoldsReleased []HoldRelease `json:"holdsReleased,omitempty"`
	// OpenSlots are slots two sweeps in a row found open while no
	// operation ran (a slot move cut short): the workflow starts a recover,
	// which closes them.
	OpenSlots []leftopen.Slot `json:"openSlots,omitempty"`
	// WritesRefused are primaries two sweeps in a row found refusing writes
	// for a disk error while no operation ran: the workflow hands each such
	// shard to a replica whose disk takes writes (a switchover).
	WritesRefused []misconf.Refusal `json:"writesRefused,omitempty"`
}

// Watch observes the cluster every Interval, relabelling roles on the spot,
// clearing failover holds no move owns and finding slots left open
// (sweepHolds), and returns when a decision is due: the cluster is gone, a
// failover was seen, a hold was cleared, a slot was found left open, an
// instance is lost (and no operation runs), the assessment's
// fingerprint changed, or MaxWait passed. It heartbeats every observation.
func (a *Activities) Watch(ctx context.Context, in WatchInput) (WatchResult, error) {
	if in.Interval <= 0 {
		in.Interval = 500 * time.Millisecond
	}
	if in.MaxWait <= 0 {
		in.MaxWait = time.Minute
	}
	end := time.Now().Add(in.MaxWait)
	known := in.Known
	var out WatchResult
	for {
		obs, err := a.observe(ctx, ObserveInput{Namespace: in.Namespace, Cluster: in.Cluster, Known: known, Relabel: true})
		if err != nil {
			// One failed look (an apiserver hiccup) is not worth a workflow
			// retry: look again until MaxWait.
			if time.Now().After(end) {
				return out, err
			}
			a.Log.WarnContext(ctx, "guardian observation failed", "cluster", in.Namespace+"/"+in.Cluster, "err", err)
		} else {
			out.Observation = obs
			out.Observations++
			out.Commands += obs.Commands
			as := obs.Assessment
			key := in.Namespace + "/" + in.Cluster
			a.Metrics.observed(key, as, 1, obs.Commands)
			a.Metrics.failover(key, len(as.Failovers))
			if as.State == guard.StateHealthy && !in.DegradedSince.IsZero() {
				a.Metrics.repaired(time.Since(in.DegradedSince))
				in.DegradedSince = time.Time{}
			}
			known = as.Known
			if len(as.Failovers) > 0 && out.NoticedAt.IsZero() {
				out.NoticedAt = obs.At
			}
			out.Failovers = append(out.Failovers, as.Failovers...)
			out.Relabelled = append(out.Relabelled, obs.Relabelled...)
			if len(obs.Relabelled) > 0 {
				out.LabelledAt = time.Now()
			}
			sw := a.sweepHolds(ctx, in.Namespace, in.Cluster, obs)
			out.HoldsReleased = append(out.HoldsReleased, sw.released...)
			out.OpenSlots, out.WritesRefused = sw.open, sw.refused
			out.Commands += sw.commands
			fresh := newFences(obs.Fences, in.Fences)
			a.Metrics.fenced(key, fresh)
			out.NewFences += fresh
			for _, f := range obs.Fences {
				if in.Fences == nil {
					in.Fences = map[int]string{}
				}
				in.Fences[f.Ordinal] = f.ID
			}
			switch {
			case obs.Gone, len(out.Failovers) > 0, out.NewFences > 0, len(out.HoldsReleased) > 0, len(out.OpenSlots) > 0,
				in.ReturnOnLost && (as.NeedsRecovery() || len(out.WritesRefused) > 0) && !time.Now().Before(in.RecoverNotBefore),
				as.Fingerprint() != in.Fingerprint, time.Now().After(end):
				return out, nil
			}
			activity.RecordHeartbeat(ctx, out.Observations)
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(in.Interval):
		}
	}
}

// StartRecoverInput starts an operation (a recover, or a switchover away
// from a primary that refuses writes) on behalf of the guardian.
type StartRecoverInput = opstart.Input

// StartRecoverResult says whether the operation runs.
type StartRecoverResult = opstart.Result

// StartRecover starts the operation of in as the cluster's (opstart.Start).
func (a *Activities) StartRecover(ctx context.Context, in StartRecoverInput) (StartRecoverResult, error) {
	res, err := opstart.Start(ctx, a.Temporal, a.TaskQueue, in)
	if res.New {
		a.Metrics.started(in.Meta.ClusterKey(), in.Meta.Type)
	}
	return res, err
}

// ForceDeleteInput names Pods stuck on a dead node.
type ForceDeleteInput struct {
	Namespace string   `json:"namespace"`
	Pods      []string `json:"pods"`
}

// ForceDeletePods deletes the Pods with a zero grace period (the kubelet of a
// dead node will never confirm a graceful delete) and waits until they are
// gone. NotFound is success.
func (a *Activities) ForceDeletePods(ctx context.Context, in ForceDeleteInput) error {
	pods := a.Kube.CoreV1().Pods(in.Namespace)
	zero := int64(0)
	for _, name := range in.Pods {
		if err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("force-delete pod %s: %w", name, err)
		}
	}
	for _, name := range in.Pods {
		if err := waitGone(ctx, "pod", name, func(ctx context.Context) error {
			_, err := pods.Get(ctx, name, metav1.GetOptions{})
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// DropVolumeInput names the volume of a lost instance that will not be reused.
type DropVolumeInput struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	Ordinal   int    `json:"ordinal"`
}

// DropVolume deletes the ordinal's PVC (a volume left on a dead node, or one
// already being deleted) and waits until it is gone, so the recovered
// instance gets a fresh one rather than a claim about to vanish under it.
// NotFound is success.
func (a *Activities) DropVolume(ctx context.Context, in DropVolumeInput) error {
	pvcs := a.Kube.CoreV1().PersistentVolumeClaims(in.Namespace)
	name := render.PVCName(in.Cluster, in.Ordinal)
	if err := pvcs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pvc %s: %w", name, err)
	}
	return waitGone(ctx, "pvc", name, func(ctx context.Context) error {
		_, err := pvcs.Get(ctx, name, metav1.GetOptions{})
		return err
	})
}

// waitGone reads an object with get every 250ms, heartbeating its name,
// until Kubernetes answers NotFound.
func waitGone(ctx context.Context, kind, name string, get func(context.Context) error) error {
	for {
		err := get(ctx)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %s %s: %w", kind, name, err)
		}
		activity.RecordHeartbeat(ctx, name)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// newFences counts the reports whose ID is not the one known for their ordinal.
func newFences(fs []FenceReport, known map[int]string) int {
	n := 0
	for _, f := range fs {
		if known[f.Ordinal] != f.ID {
			n++
		}
	}
	return n
}
