package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"k8s.io/client-go/kubernetes"
)

// Guardians keeps a guardian workflow running for every cluster served by
// this task queue. It is a supervisor, not a controller: it only (re)starts
// guardians, idempotently (the guardian's workflow ID is per cluster and a
// running one is reused), so any number of workers may run it at once; the
// guardians themselves decide and act. A cluster belongs to this task queue
// when its operations ran there (its operation workflow's task queue), so
// that two dayops installations sharing one Temporal namespace and one
// Kubernetes cluster never guard each other's clusters.
type Guardians struct {
	Temporal  client.Client
	Kube      kubernetes.Interface
	TaskQueue string
	Log       *slog.Logger
	// Namespaces are the namespaces dayops manages (Config.Namespaces);
	// empty: every namespace.
	Namespaces []string
	// Every is how often clusters are listed (default 5s).
	Every time.Duration
}

// Run ensures guardians until ctx ends.
func (g *Guardians) Run(ctx context.Context) {
	every := g.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	for {
		if err := g.EnsureAll(ctx); err != nil && ctx.Err() == nil {
			g.Log.WarnContext(ctx, "guardian supervisor", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// EnsureAll starts the guardian of every cluster of this task queue that has none.
func (g *Guardians) EnsureAll(ctx context.Context) error {
	cms, err := kube.ListClusterConfigMaps(ctx, g.Kube, "", g.Namespaces)
	if err != nil {
		return fmt.Errorf("list clusters: %w", err)
	}
	var errs []error
	for _, cm := range cms {
		name := cm.Labels[render.LabelCluster]
		if _, ok := cm.Annotations[kube.AnnotationSpec]; !ok || name == "" {
			continue
		}
		mine, err := g.ours(ctx, cm.Namespace, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !mine {
			continue
		}
		if err := EnsureGuardian(ctx, g.Temporal, g.TaskQueue, cm.Namespace, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ours reports whether the cluster's operations ran on this task queue.
func (g *Guardians) ours(ctx context.Context, namespace, cluster string) (bool, error) {
	d, err := g.Temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(namespace, cluster), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("describe the operation of %s/%s: %w", namespace, cluster, err)
	}
	return d.GetExecutionConfig().GetTaskQueue().GetName() == g.TaskQueue, nil
}

var (
	saGuardCluster   = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrCluster)
	saGuardOperation = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrOperation)
)

// EnsureGuardian starts the cluster's guardian unless it runs already.
func EnsureGuardian(ctx context.Context, c client.Client, taskQueue, namespace, cluster string) error {
	key := operation.ClusterKey(namespace, cluster)
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.GuardianWorkflowID(namespace, cluster),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(saGuardCluster.ValueSet(key), saGuardOperation.ValueSet("guardian")),
		StaticSummary:            "guardian of " + key,
		StaticDetails:            "Watches the cluster's Pods and Redis every 500 ms, keeps role labels and Services true, records failures and starts recover operations.",
	}, workflows.Guardian, workflows.GuardianInput{Namespace: namespace, Cluster: cluster})
	if err != nil {
		return fmt.Errorf("start guardian of %s: %w", key, err)
	}
	return nil
}
