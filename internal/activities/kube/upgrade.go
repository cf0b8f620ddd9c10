package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Annotations an upgrade writes on the cluster's ConfigMap. While an upgrade
// runs, AnnotationSpec still holds the previous spec (the one every instance
// started from) and AnnotationUpgradeTarget the spec being rolled out;
// AnnotationUpgradePrevious repeats the previous spec so a rollback never
// depends on what the workflow remembers. On success the target becomes the
// spec and the previous one stays in AnnotationPreviousSpec.
const (
	AnnotationUpgradeTarget   = "dayops.io/upgrade-target"
	AnnotationUpgradePrevious = "dayops.io/upgrade-previous"
	AnnotationPreviousSpec    = "dayops.io/previous-spec"
	// ErrTypeGateFailed is the error type of a failed health gate.
	ErrTypeGateFailed = "GateFailed"
)

// BeginUpgradeInput records an upgrade on the cluster's ConfigMap.
type BeginUpgradeInput struct {
	Target   spec.Cluster `json:"target"`
	Previous spec.Cluster `json:"previous"`
}

// StepTarget names the change in audit step events.
func (in BeginUpgradeInput) StepTarget() string {
	return fmt.Sprintf("%s -> %s", in.Previous.Image, in.Target.Image)
}

// BeginUpgrade writes the target and previous specs as annotations of the
// cluster's ConfigMap and creates the revision ConfigMaps of both (so a
// rollback can recreate Pods with the previous config). Idempotent.
func (a *Activities) BeginUpgrade(ctx context.Context, in BeginUpgradeInput) (err error) {
	defer func() { err = classify(err) }()
	c := in.Previous
	target, err := json.Marshal(in.Target)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("marshal target spec", ErrTypeBadSpec, err)
	}
	prev, err := json.Marshal(in.Previous)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("marshal previous spec", ErrTypeBadSpec, err)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		AnnotationUpgradeTarget: string(target), AnnotationUpgradePrevious: string(prev),
	}}})
	cm, err := a.Client.CoreV1().ConfigMaps(c.Namespace).Patch(ctx, render.ConfigMapName(c.Name), types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("cluster %s/%s has no configmap", c.Namespace, c.Name), ErrTypeNotFound, err)
	}
	if err != nil {
		return fmt.Errorf("annotate configmap %s: %w", render.ConfigMapName(c.Name), err)
	}
	for _, s := range []spec.Cluster{in.Previous, in.Target} {
		if err := a.ensureRevision(ctx, s, render.OwnerReference(cm)); err != nil {
			return err
		}
	}
	return nil
}

func (a *Activities) ensureRevision(ctx context.Context, c spec.Cluster, owner metav1.OwnerReference) error {
	want := render.RevisionConfigMap(c, owner)
	_, err := a.Client.CoreV1().ConfigMaps(c.Namespace).Create(ctx, want, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create configmap %s: %w", want.Name, err)
	}
	return nil
}

// FinishUpgradeInput ends an upgrade: Spec is what the cluster now runs (the
// target after success, the previous spec after a rollback).
type FinishUpgradeInput struct {
	Spec       spec.Cluster `json:"spec"`
	RolledBack bool         `json:"rolledBack,omitempty"`
	// Previous is kept as AnnotationPreviousSpec after a success.
	Previous *spec.Cluster `json:"previous,omitempty"`
}

// FinishUpgrade makes Spec the cluster's spec and redis.conf (for Pods
// created later, e.g. by a scale operation) and removes the upgrade
// annotations. Idempotent.
func (a *Activities) FinishUpgrade(ctx context.Context, in FinishUpgradeInput) (err error) {
	defer func() { err = classify(err) }()
	c := in.Spec
	specJSON, err := json.Marshal(c)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("marshal spec", ErrTypeBadSpec, err)
	}
	cms := a.Client.CoreV1().ConfigMaps(c.Namespace)
	cm, err := cms.Get(ctx, render.ConfigMapName(c.Name), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("cluster %s/%s has no configmap", c.Namespace, c.Name), ErrTypeNotFound, err)
	}
	if err != nil {
		return fmt.Errorf("get configmap %s: %w", render.ConfigMapName(c.Name), err)
	}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Data = render.ConfigMap(c).Data
	cm.Annotations[AnnotationSpec] = string(specJSON)
	delete(cm.Annotations, AnnotationUpgradeTarget)
	delete(cm.Annotations, AnnotationUpgradePrevious)
	if in.Previous != nil && !in.RolledBack {
		prev, err := json.Marshal(in.Previous)
		if err != nil {
			return temporal.NewNonRetryableApplicationError("marshal previous spec", ErrTypeBadSpec, err)
		}
		cm.Annotations[AnnotationPreviousSpec] = string(prev)
	}
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update configmap %s: %w", cm.Name, err)
	}
	return nil
}

// RecreateInput names the instance to recreate and the spec it must run.
type RecreateInput struct {
	Spec      spec.Cluster      `json:"spec"`
	Instance  topology.Instance `json:"instance"`
	Placement render.Placement  `json:"placement"`
}

// StepTarget names the instance in audit step events.
func (in RecreateInput) StepTarget() string {
	return fmt.Sprintf("%s (shard-%d) -> %s", render.PodName(in.Spec.Name, in.Instance.Ordinal), in.Instance.Shard, in.Spec.Image)
}

// RecreateResult says whether the Pod was replaced now.
type RecreateResult struct {
	Recreated bool   `json:"recreated"`
	Pod       string `json:"pod"`
	// PreviousImage is the image of the Pod replaced (empty if none).
	PreviousImage string `json:"previousImage,omitempty"`
}

// RecreateInstance replaces an instance's Pod with one running Spec on the
// same PersistentVolumeClaim and ordinal: the Pod is deleted (its Redis
// saves and stops within the grace period), then created again once gone.
// The Pod's live role label and node ID annotation carry over, so the
// per-shard Service keeps selecting the primary. A Pod that already runs
// Spec (spec hash annotation) is left alone: a retried attempt does nothing
// twice.
func (a *Activities) RecreateInstance(ctx context.Context, in RecreateInput) (_ RecreateResult, err error) {
	defer func() { err = classify(err) }()
	c := in.Spec
	name := render.PodName(c.Name, in.Instance.Ordinal)
	out := RecreateResult{Pod: name}
	pods := a.Client.CoreV1().Pods(c.Namespace)
	want := render.SpecHash(c)
	inst := in.Instance
	old, err := pods.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return out, fmt.Errorf("get pod %s: %w", name, err)
	default:
		if old.DeletionTimestamp == nil && old.Annotations[render.AnnotationSpecHash] == want {
			return out, nil
		}
		if len(old.Spec.Containers) > 0 {
			out.PreviousImage = old.Spec.Containers[0].Image
		}
		if r := old.Labels[render.LabelRole]; r != "" {
			inst.Role = topology.Role(r)
		}
		if id := old.Annotations[render.AnnotationNodeID]; id != "" {
			inst.NodeID = id
		}
		uid := old.UID
		err := pods.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return out, fmt.Errorf("delete pod %s: %w", name, err)
		}
		if err := a.waitGone(ctx, func(ctx context.Context) error {
			p, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err == nil && p.UID != uid {
				// Another Pod of that name exists: ours is gone.
				return apierrors.NewNotFound(corev1.Resource("pods"), name)
			}
			activity.RecordHeartbeat(ctx, "waiting for "+name+" to go")
			return err
		}); err != nil {
			return out, fmt.Errorf("wait for pod %s to go: %w", name, err)
		}
	}
	owner, err := a.owner(ctx, c.Namespace, c.Name)
	if err != nil {
		return out, err
	}
	if err := a.ensureRevision(ctx, c, owner); err != nil {
		return out, err
	}
	cur, err := pods.Get(ctx, name, metav1.GetOptions{})
	if err == nil && cur.Annotations[render.AnnotationSpecHash] == want && cur.DeletionTimestamp == nil {
		out.Recreated = true
		return out, nil
	}
	if err == nil {
		return out, fmt.Errorf("pod %s exists with another spec (hash %s, want %s): retrying", name, cur.Annotations[render.AnnotationSpecHash], want)
	}
	if !apierrors.IsNotFound(err) {
		return out, fmt.Errorf("get pod %s: %w", name, err)
	}
	if _, err := pods.Create(ctx, render.WithInstanceManager(render.UpgradePod(c, inst, in.Placement, owner), a.InstanceImage), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return out, fmt.Errorf("create pod %s: %w", name, err)
	}
	out.Recreated = true
	return out, nil
}

// PodRun identifies one run of a Pod: its UID and its container restarts.
type PodRun struct {
	UID      string `json:"uid"`
	Restarts int32  `json:"restarts"`
	Ready    bool   `json:"ready"`
	Image    string `json:"image,omitempty"`
}

// SteadyInput names a cluster and the Pod runs seen before.
type SteadyInput struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	// Baseline maps Pod name to the run seen at the start of the gate
	// period; nil only records the baseline.
	Baseline map[string]PodRun `json:"baseline,omitempty"`
	// RestartedOnly: Baseline lists only the Pods that had restarted at the
	// baseline (a Pod missing from it had none), so that a gate's input
	// does not grow with the cluster. The verdict is the same (a container
	// restart since the baseline fails the gate either way); only the
	// message of a Pod missing from Baseline cannot say whether the upgrade
	// recreated it.
	RestartedOnly bool `json:"restartedOnly,omitempty"`
	// Label says what is being gated (audit).
	Label string `json:"label,omitempty"`
}

// StepTarget names the gate in audit step events.
func (in SteadyInput) StepTarget() string { return in.Label }

// SteadyResult is every Pod's current run.
type SteadyResult struct {
	Pods map[string]PodRun `json:"pods"`
}

// CheckInstancesSteady is the Kubernetes part of the upgrade health gate:
// every Pod of the cluster is Ready and no container restarted since the
// baseline (a Pod recreated since, with a new UID, starts a new baseline).
// A failure is a non-retryable GateFailed error naming every problem.
func (a *Activities) CheckInstancesSteady(ctx context.Context, in SteadyInput) (_ SteadyResult, err error) {
	defer func() { err = classify(err) }()
	pods, err := a.Client.CoreV1().Pods(in.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(render.ClusterSelector(in.Cluster)).String(),
	})
	if err != nil {
		return SteadyResult{}, fmt.Errorf("list pods of %s: %w", in.Cluster, err)
	}
	out := SteadyResult{Pods: map[string]PodRun{}}
	var problems []string
	for _, p := range pods.Items {
		run := PodRun{UID: string(p.UID), Ready: PodReady(&p)}
		for _, cs := range p.Status.ContainerStatuses {
			run.Restarts += cs.RestartCount
		}
		if len(p.Spec.Containers) > 0 {
			run.Image = p.Spec.Containers[0].Image
		}
		out.Pods[p.Name] = run
		if in.Baseline == nil {
			continue
		}
		problems = append(problems, steadyProblems(p.Name, run, in)...)
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return out, temporal.NewNonRetryableApplicationError("health gate: "+strings.Join(problems, "; "), ErrTypeGateFailed, nil)
	}
	return out, nil
}

// RestartedOnly is the part of a restart baseline whose Pods had restarted:
// with SteadyInput.RestartedOnly, the same verdict from an input that does
// not grow with the cluster.
func RestartedOnly(baseline map[string]PodRun) map[string]PodRun {
	var out map[string]PodRun
	for _, name := range slices.Sorted(maps.Keys(baseline)) {
		if run := baseline[name]; run.Restarts > 0 {
			if out == nil {
				out = map[string]PodRun{}
			}
			out[name] = run
		}
	}
	return out
}

// steadyProblems is what keeps one Pod from being steady against the
// baseline of in.
func steadyProblems(name string, run PodRun, in SteadyInput) []string {
	var out []string
	if !run.Ready {
		out = append(out, fmt.Sprintf("pod %s is not Ready", name))
	}
	b, ok := in.Baseline[name]
	switch {
	case ok && b.UID == run.UID && run.Restarts > b.Restarts:
		out = append(out, fmt.Sprintf("pod %s restarted %d time(s) since the upgrade began", name, run.Restarts-b.Restarts))
	case !ok && in.RestartedOnly && run.Restarts > 0:
		out = append(out, fmt.Sprintf("pod %s restarted %d time(s) during the upgrade", name, run.Restarts))
	case (!ok || b.UID != run.UID) && run.Restarts > 0:
		out = append(out, fmt.Sprintf("pod %s, recreated by the upgrade, restarted %d time(s)", name, run.Restarts))
	}
	return out
}

// SpecHashesInput lists specs whose instance hash a workflow needs.
type SpecHashesInput struct {
	Specs []spec.Cluster `json:"specs"`
}

// SpecHashesResult holds SpecHash of each spec, in input order.
type SpecHashesResult struct {
	Hashes []string `json:"hashes"`
}

// SpecHashes computes SpecHash of each spec. It is an activity so that the
// hashes a workflow compares Pods against are recorded in its history: a
// later dayops that renders redis.conf differently cannot change them under a
// running upgrade.
func (a *Activities) SpecHashes(_ context.Context, in SpecHashesInput) (_ SpecHashesResult, err error) {
	defer func() { err = classify(err) }()
	out := SpecHashesResult{Hashes: make([]string, len(in.Specs))}
	for i, s := range in.Specs {
		out.Hashes[i] = render.SpecHash(s)
	}
	return out, nil
}
