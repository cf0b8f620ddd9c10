package nodeagent

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

const (
	leaseNamespace = "kube-node-lease"
	leaseDuration  = 40
	kubeletVersion = "v1.36.3-dayops"
	zoneLabel      = "topology.kubernetes.io/zone"
	hostnameLabel  = "kubernetes.io/hostname"
	agentLabel     = "dayops.dev/node-agent"
)

// registerNode creates the Node (or takes over an existing one) and sets
// its labels and status.
func (a *Agent) registerNode(ctx context.Context, n nodeInfo) error {
	nodes := a.cs.CoreV1().Nodes()
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name,
			Labels: map[string]string{
				zoneLabel:                       n.Zone,
				hostnameLabel:                   n.Name,
				"kubernetes.io/os":              "linux",
				"kubernetes.io/arch":            runtime.GOARCH,
				"topology.kubernetes.io/region": "local",
				agentLabel:                      "true",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: n.Pool.String(), PodCIDRs: []string{n.Pool.String()}, Taints: a.cfg.NodeTaints},
	}
	for k, v := range a.cfg.NodeLabels {
		want.Labels[k] = v
	}
	if _, err := nodes.Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node %s: %w", n.Name, err)
	}
	// Whether just created or left by an earlier run: set labels and taints.
	// The TaintNodesByCondition admission plugin adds
	// node.kubernetes.io/not-ready at creation and, with no node lifecycle
	// controller in the local stack, nobody else would remove it.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := nodes.Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		for k, v := range want.Labels {
			cur.Labels[k] = v
		}
		if cur.Spec.PodCIDR == "" {
			cur.Spec.PodCIDR, cur.Spec.PodCIDRs = want.Spec.PodCIDR, want.Spec.PodCIDRs
		}
		cur.Spec.Taints = mergeTaints(cur.Spec.Taints, a.cfg.NodeTaints)
		_, err = nodes.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.Name, err)
	}
	return a.updateNodeStatus(ctx, n, true, "KubeletReady", "dayops node agent is posting ready status")
}

// updateNodeStatus writes the node's addresses, capacity and conditions.
func (a *Agent) updateNodeStatus(ctx context.Context, n nodeInfo, ready bool, reason, message string) error {
	nodes := a.cs.CoreV1().Nodes()
	now := metav1.Now()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := nodes.Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		capacity := corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse(a.cfg.NodeCPU),
			corev1.ResourceMemory:           resource.MustParse(a.cfg.NodeMemory),
			corev1.ResourcePods:             *resource.NewQuantity(int64(a.cfg.NodePods), resource.DecimalSI),
			corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		}
		st := &cur.Status
		st.Capacity = capacity
		st.Allocatable = capacity.DeepCopy()
		st.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.IP.String()}}
		st.DaemonEndpoints.KubeletEndpoint.Port = int32(a.cfg.KubeletPort)
		st.NodeInfo = corev1.NodeSystemInfo{
			MachineID:               "dayops-" + n.Name,
			SystemUUID:              "dayops-" + n.Name,
			BootID:                  a.bootID,
			KernelVersion:           a.kernel,
			OSImage:                 "dayops process node agent",
			ContainerRuntimeVersion: "process://" + kubeletVersion,
			KubeletVersion:          kubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            runtime.GOARCH,
		}
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		conds := []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "no memory pressure"},
			{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "no disk pressure"},
			{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "no PID pressure"},
			{Type: corev1.NodeReady, Status: status, Reason: reason, Message: message},
		}
		for i := range conds {
			c := &conds[i]
			c.LastHeartbeatTime = now
			c.LastTransitionTime = now
			for _, old := range st.Conditions {
				if old.Type == c.Type && old.Status == c.Status {
					c.LastTransitionTime = old.LastTransitionTime
				}
			}
		}
		st.Conditions = conds
		_, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("update status of node %s: %w", n.Name, err)
	}
	return nil
}

// renewLease creates or renews the node's Lease in kube-node-lease.
func (a *Agent) renewLease(ctx context.Context, n nodeInfo) error {
	leases := a.cs.CoordinationV1().Leases(leaseNamespace)
	now := metav1.NowMicro()
	holder := n.Name
	dur := int32(leaseDuration)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := leases.Get(ctx, n.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			l := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: n.Name, Namespace: leaseNamespace},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity:       &holder,
					LeaseDurationSeconds: &dur,
					RenewTime:            &now,
				},
			}
			if a.nodeUIDs[n.Name] != "" {
				l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: a.nodeUIDs[n.Name]}}
			}
			_, err = leases.Create(ctx, l, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		cur.Spec.HolderIdentity = &holder
		cur.Spec.LeaseDurationSeconds = &dur
		cur.Spec.RenewTime = &now
		_, err = leases.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("renew lease of node %s: %w", n.Name, err)
	}
	return nil
}

// heartbeat renews every node's Lease each LeaseRenew and rewrites node
// status every minute (the Ready heartbeat).
func (a *Agent) heartbeat(ctx context.Context) {
	tick := time.NewTicker(a.cfg.LeaseRenew)
	defer tick.Stop()
	lastStatus := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		statusDue := time.Since(lastStatus) >= time.Minute
		for _, n := range a.nodes {
			if err := a.renewLease(ctx, n); err != nil && ctx.Err() == nil {
				a.log.Warn("lease renewal failed", "node", n.Name, "err", err)
			}
			if statusDue {
				if err := a.updateNodeStatus(ctx, n, true, "KubeletReady", "dayops node agent is posting ready status"); err != nil && ctx.Err() == nil {
					a.log.Warn("node status update failed", "node", n.Name, "err", err)
				}
			}
		}
		if statusDue {
			lastStatus = time.Now()
		}
	}
}

// mergeTaints keeps the taints others set (say, a test's own), drops the
// node-condition taints (node.kubernetes.io/*: this agent is the node
// lifecycle here, and its nodes are healthy) and sets the configured ones.
func mergeTaints(cur, configured []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range cur {
		if strings.HasPrefix(t.Key, "node.kubernetes.io/") && t.Key != "node.kubernetes.io/unschedulable" {
			continue
		}
		managed := false
		for _, c := range configured {
			if c.Key == t.Key && c.Effect == t.Effect {
				managed = true
			}
		}
		if !managed {
			out = append(out, t)
		}
	}
	return append(out, configured...)
}
