package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/admission"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"go.temporal.io/sdk/temporal"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// clusters adapts the Kubernetes and cluster-state activity structs to the
// small interfaces admission and the API declare: the API never calls an
// activity itself.
type clusters struct {
	kube  *kube.Activities
	state *clusterstate.Activities
}

// NamespaceManaged answers spec.ManagedNamespaces: with DAYOPS_NAMESPACES
// set, a cluster elsewhere is refused (dayops' Roles do not reach it).
func (c clusters) NamespaceManaged(name string) ([]string, bool) {
	if len(c.kube.Namespaces) == 0 {
		return nil, true
	}
	return c.kube.Namespaces, slices.Contains(c.kube.Namespaces, name)
}

// AdmissionScanKeys bounds scale-in's big-key scan at admission: about this
// many keys per departing primary (well under a second each), so a request
// is answered in seconds whatever the data size. A key over the limit among
// the rest is found by the operation's planning step, which measures every
// key before it moves one and fails the operation (PlanRejected) with the
// same message.
const AdmissionScanKeys = 100_000

// Observe reads Kubernetes and Redis; a missing cluster wraps admission.ErrNotFound.
func (c clusters) Observe(ctx context.Context, namespace, name string, scan []int) (admission.Observation, error) {
	obs, err := c.state.ObserveCluster(ctx, clusterstate.ObserveInput{Namespace: namespace, Cluster: name, ScanBigKeysOfShards: scan,
		ScanKeyBudget: AdmissionScanKeys})
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == clusterstate.ErrTypeNotFound {
		return admission.Observation{}, fmt.Errorf("%s/%s: %w", namespace, name, admission.ErrNotFound)
	}
	if err != nil {
		return admission.Observation{}, err
	}
	return observation(obs.State, obs.Kube, true), nil
}

// Objects reads Kubernetes only.
func (c clusters) Objects(ctx context.Context, namespace, name string) (admission.Observation, error) {
	obs, err := c.kube.Observe(ctx, kube.ObserveInput{Namespace: namespace, Cluster: name})
	if err != nil {
		return admission.Observation{}, err
	}
	return kubeObservation(obs), nil
}

// List reads every cluster of namespace ("" for all) from Kubernetes.
func (c clusters) List(ctx context.Context, namespace string) ([]admission.Observation, error) {
	res, err := c.kube.ListClusters(ctx, kube.ListClustersInput{Namespace: namespace})
	if err != nil {
		return nil, err
	}
	out := make([]admission.Observation, 0, len(res.Clusters))
	for _, o := range res.Clusters {
		out = append(out, kubeObservation(o))
	}
	return out, nil
}

// Zones lists the zones with Ready, schedulable nodes.
func (c clusters) Zones(ctx context.Context, zoneKey string) ([]string, error) {
	z, err := c.kube.ListZones(ctx, kube.ListZonesInput{ZoneKey: zoneKey})
	return z.Zones, err
}

// SpecHash is the instance spec hash the Pods of s carry.
func (clusters) SpecHash(s spec.Cluster) string { return render.SpecHash(s) }

// Password reads the cluster's password and names its Secret.
func (c clusters) Password(ctx context.Context, s spec.Cluster) (secret, password string, err error) {
	secret = render.PasswordSecretName(s)
	password, err = kube.Passwords{Client: c.kube.Client}.Password(ctx, s.Namespace, secret)
	return secret, password, err
}

func kubeObservation(obs kube.ObserveResult) admission.Observation {
	return observation(clusterstate.KubeState(obs), obs.Instances, obs.Spec != nil || len(obs.Instances) > 0)
}

func observation(st planner.State, pods []kube.InstanceStatus, exists bool) admission.Observation {
	o := admission.Observation{Exists: exists, State: st, Nodes: map[int]string{}, SpecHashes: kube.SpecHashes(pods)}
	for _, p := range pods {
		o.Nodes[p.Ordinal] = p.Node
	}
	return o
}

// NamespaceExists answers spec.References: admission refuses a spec whose
// namespace does not exist.
func (c clusters) NamespaceExists(ctx context.Context, name string) (bool, error) {
	_, err := c.kube.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case apierrors.IsForbidden(err):
		// An install whose role may not read namespaces (deploy/ grants
		// it) cannot tell; the operation then fails on its first write.
		return true, nil
	}
	return err == nil, err
}

// Secret answers spec.References with the labels of a Secret and its data
// keys that hold a value; the values themselves are never handed on.
func (c clusters) Secret(ctx context.Context, namespace, name string) (spec.SecretInfo, bool, error) {
	s, err := c.kube.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return spec.SecretInfo{}, false, nil
	}
	if err != nil {
		return spec.SecretInfo{}, false, err
	}
	keys := make([]string, 0, len(s.Data))
	for key, v := range s.Data {
		if len(v) > 0 {
			keys = append(keys, key)
		}
	}
	return spec.SecretInfo{Keys: keys, Labels: s.Labels}, true, nil
}
