// Package benchkit holds what the benchmark harnesses share: random names,
// a test namespace, waiting for an operation, and readings of /proc and of
// Redis INFO.
package benchkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/cli"
)

// Random is 12 random hex digits, for names, task queues and tokens.
func Random() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateNamespace creates a namespace <prefix>-<random> and waits (up to 30
// s) for its default ServiceAccount, which Pods need.
func CreateNamespace(ctx context.Context, kube kubernetes.Interface, prefix string) (string, error) {
	name := prefix + "-" + Random()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create namespace %s: %w", name, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := kube.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return name, nil
		}
		if time.Now().After(deadline) {
			return name, fmt.Errorf("namespace %s has no default ServiceAccount after 30s: %w", name, err)
		}
		if err := Sleep(ctx, 100*time.Millisecond); err != nil {
			return name, err
		}
	}
}

// DeleteNamespace deletes ns, logging a failure.
func DeleteNamespace(ctx context.Context, kube kubernetes.Interface, ns string, log *slog.Logger) {
	if err := kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		log.Warn("delete namespace", "namespace", ns, "err", err)
	}
}

// WaitOperation polls the operation every interval until it ends; anything
// but success is an error.
func WaitOperation(ctx context.Context, op *cli.Client, interval time.Duration, id string) (apiv1.Operation, error) {
	o, err := WaitEnded(ctx, op, interval, id, 0)
	if err == nil && (o.Status != apiv1.StatusCompleted || o.Progress.Outcome != apiv1.OutcomeSucceeded) {
		err = fmt.Errorf("operation %s ended %s/%s: %s %s", id, o.Status, o.Progress.Outcome, o.Error, o.Progress.Message)
	}
	return o, err
}

// WaitEnded polls an operation every interval until it is no longer running
// and returns its last state, whatever the outcome; an error after limit (0:
// no limit).
func WaitEnded(ctx context.Context, op *cli.Client, interval time.Duration, id string, limit time.Duration) (apiv1.Operation, error) {
	deadline := time.Now().Add(limit)
	for {
		var o apiv1.Operation
		err := op.Do(ctx, http.MethodGet, "/v1/operations/"+id, nil, nil, &o)
		if err == nil && o.Status != apiv1.StatusRunning {
			return o, nil
		}
		if limit > 0 && time.Now().After(deadline) {
			return o, fmt.Errorf("operation %s still running after %s: %+v (last error %v)", id, limit, o.Progress, err)
		}
		if err := Sleep(ctx, interval); err != nil {
			return o, err
		}
	}
}

// Unrecovered replays the cluster's audit log through the API (the state an
// auditor reads) and returns its instances recorded lost and not recovered
// since, as "ordinal N: reason"; cluster is the audit key
// "<namespace>/<name>".
func Unrecovered(ctx context.Context, auditor *cli.Client, cluster string) ([]string, error) {
	var st apiv1.AuditState
	if err := auditor.Do(ctx, http.MethodGet, "/v1/audit/state", url.Values{"cluster": {cluster}}, nil, &st); err != nil {
		return nil, err
	}
	if st.Cluster == nil {
		return nil, fmt.Errorf("the audit state of %s holds no cluster", cluster)
	}
	var out []string
	for _, o := range st.Cluster.Lost() {
		out = append(out, fmt.Sprintf("ordinal %d: %s", o, st.Cluster.Instances[o].LostReason))
	}
	return out, nil
}

// ForceDeletePod deletes a Pod with a zero grace period, as after its node
// vanished.
func ForceDeletePod(ctx context.Context, kube kubernetes.Interface, ns, pod string) error {
	zero := int64(0)
	if err := kube.CoreV1().Pods(ns).Delete(ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		return fmt.Errorf("force-delete %s: %w", pod, err)
	}
	return nil
}

// Cordon marks a Kubernetes node (un)schedulable.
func Cordon(ctx context.Context, kube kubernetes.Interface, node string, on bool) error {
	body, _ := json.Marshal(map[string]any{"spec": map[string]any{"unschedulable": on}})
	if _, err := kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("cordon %s=%v: %w", node, on, err)
	}
	return nil
}

// LoadAvg is the first three fields of /proc/loadavg (the figures of a
// benchmark depend on how busy the machine was), or "" when unreadable.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// RSS is VmRSS of pid in bytes.
func RSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	kb, err := ParseStatusKB(string(status), "VmRSS")
	return kb * 1024, err
}

// Required names every empty field of a benchmark's Config as an error,
// in name order: fields maps the flag name to its value.
func Required(fields map[string]string) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if fields[name] == "" {
			errs = append(errs, fmt.Errorf("%s: empty", name))
		}
	}
	return errs
}
