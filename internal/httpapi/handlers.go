package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/dayops/dayops/internal/admission"
	"github.com/dayops/dayops/internal/audit/projection"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi/access"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/workflows"
	"github.com/google/uuid"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ClusterPath names a cluster in a request path and query.
type ClusterPath struct {
	Name      string `path:"name" doc:"cluster name"`
	Namespace string `query:"namespace" default:"default" doc:"Kubernetes namespace of the cluster"`
}

type accepted struct {
	Status int
	Body   OperationAccepted
}

func (s *Server) routes() {
	api := s.api
	huma.Register(api, endpoint(RoleOperator, "POST /v1/clusters", "create-cluster", "clusters",
		"Create a cluster",
		"Validates the spec, checks it against the live state (name free, enough zones), and starts the CreateCluster workflow. With dryRun=true it only returns the plan.",
		http.StatusConflict, http.StatusUnprocessableEntity), s.createCluster)
	huma.Register(api, endpoint(RoleAuditor, "GET /v1/clusters", "list-clusters", "clusters",
		"List clusters", ""), s.listClusters)
	huma.Register(api, endpoint(RoleAuditor, "GET /v1/clusters/{name}", "get-cluster", "clusters",
		"Get a cluster: spec, instances with role, shard, ordinal, zone and address, live health, last operation", "",
		http.StatusNotFound), s.getCluster)
	huma.Register(api, endpoint(RoleOperator, "DELETE /v1/clusters/{name}", "delete-cluster", "clusters",
		"Delete a cluster (its volumes only with deleteVolumes=true)", "",
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity), s.deleteCluster)
	huma.Register(api, endpoint(RoleOperator, "POST /v1/clusters/{name}/operations", "start-operation", "operations",
		"Start an operation on a cluster (scale-shards, scale-replicas, upgrade, recover, switchover)", "",
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity), s.startOperation)
	huma.Register(api, endpoint(RoleAuditor, "GET /v1/operations/{id}", "get-operation", "operations",
		"Get an operation's status and progress", "",
		http.StatusNotFound, http.StatusUnprocessableEntity), s.getOperation)
	huma.Register(api, endpoint(RoleOperator, "POST /v1/operations/{id}/cancel", "cancel-operation", "operations",
		"Cancel a running operation; it leaves the cluster consistent (no slot left open)", "",
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity), s.cancelOperation)
	huma.Register(api, endpoint(RoleOperator, "GET /v1/clusters/{name}/credentials", "get-credentials", "clusters",
		"The cluster's password and primary addresses (operators only)", "",
		http.StatusNotFound), s.credentials)
	huma.Register(api, endpoint(RoleAuditor, "GET /v1/clusters/{name}/events", "list-events", "audit",
		"A cluster's audit events, oldest first, paged", ""), s.listEvents)
	s.backupRoutes()
	s.upgradeRoutes()
	s.auditRoutes()
}

func (s *Server) meta(ctx context.Context, typ operation.Type, namespace, cluster, reason string) operation.Meta {
	return operation.Meta{
		OperationID: newOperationID(), Type: typ, Namespace: namespace, Cluster: cluster,
		Actor: access.Caller(ctx).Subject, Reason: reason, RequestedAt: time.Now().UTC(),
		Params: access.RequestParams(ctx),
	}
}

func (s *Server) createCluster(ctx context.Context, in *createClusterInput) (*accepted, error) {
	status, res, _, err := s.launch(ctx, admission.Request{Type: operation.Create, Spec: in.Body.Cluster}, in.Body.Reason, in.DryRun)
	if err != nil {
		return nil, err
	}
	return &accepted{Status: status, Body: *res}, nil
}

func (s *Server) startOperation(ctx context.Context, in *startOperationInput) (*accepted, error) {
	b := in.Body
	switch b.Type {
	case operation.ScaleShards, operation.ScaleReplicas, operation.Upgrade, operation.Recover, operation.Switchover:
	default:
		// The other types have their own endpoints.
		s.metrics.rejected.WithLabelValues(string(b.Type), "422").Inc()
		return nil, rejection(field.ErrorList{field.NotSupported(field.NewPath("type"), b.Type,
			[]string{string(operation.ScaleShards), string(operation.ScaleReplicas), string(operation.Upgrade),
				string(operation.Recover), string(operation.Switchover)})}, false, "body.")
	}
	req := admission.Request{Type: b.Type, Namespace: in.Namespace, Cluster: in.Name, Shards: b.Shards,
		ReplicasPerShard: b.ReplicasPerShard, Hooks: b.Hooks, AllowSharedZones: b.AllowSharedZones, Upgrade: b.Upgrade,
		Switchover: admission.SwitchoverOptions{Shard: b.Shard, To: b.To}}
	status, res, _, err := s.launch(ctx, req, b.Reason, in.DryRun)
	if err != nil {
		return nil, err
	}
	return &accepted{Status: status, Body: *res}, nil
}

func (s *Server) deleteCluster(ctx context.Context, in *struct {
	ClusterPath
	DeleteVolumes bool `query:"deleteVolumes" doc:"also delete the instances' PersistentVolumeClaims"`
	DryRun        bool `query:"dryRun" doc:"return the plan without starting anything"`
	ReasonQuery
}) (*accepted, error) {
	req := admission.Request{Type: operation.Delete, Namespace: in.Namespace, Cluster: in.Name, DeleteVolumes: in.DeleteVolumes}
	status, res, _, err := s.launch(ctx, req, in.Reason, in.DryRun)
	if err != nil {
		return nil, err
	}
	return &accepted{Status: status, Body: *res}, nil
}

func (s *Server) listClusters(ctx context.Context, in *struct {
	Namespace string `query:"namespace" doc:"only this namespace (default: all)"`
}) (*struct{ Body []ClusterSummary }, error) {
	if in.Namespace != "" {
		if errs := spec.ValidateNamespace(field.NewPath("namespace"), in.Namespace); len(errs) > 0 {
			return nil, rejection(errs, false, "query.")
		}
	}
	list, err := s.d.Clusters.List(ctx, in.Namespace)
	if err != nil {
		return nil, huma.Error503ServiceUnavailable("cannot read Kubernetes: " + err.Error())
	}
	out := &struct{ Body []ClusterSummary }{Body: []ClusterSummary{}}
	for _, c := range list {
		sp := c.State.Spec
		sum := ClusterSummary{Name: sp.Name, Namespace: sp.Namespace, Shards: sp.Shards,
			ReplicasPerShard: sp.ReplicasPerShard, Image: sp.Image, Instances: len(c.State.Instances)}
		for _, i := range c.State.Instances {
			if i.Ready {
				sum.Ready++
			}
		}
		sum.Desired = sp.Shards * (1 + sp.ReplicasPerShard)
		if h := s.guardianHealth(ctx, sp.Namespace, sp.Name); h != nil {
			sum.State, sum.Reasons = h.State, h.Reasons
		}
		out.Body = append(out.Body, sum)
	}
	return out, nil
}

func (s *Server) getCluster(ctx context.Context, in *ClusterPath) (*struct{ Body ClusterDetail }, error) {
	obs, err := s.observeCluster(ctx, in.Namespace, in.Name)
	if err != nil {
		return nil, err
	}
	st := obs.State
	out := ClusterDetail{Name: in.Name, Namespace: in.Namespace, Spec: st.Spec, Health: st.Health, Healthy: st.Health.Healthy(),
		Slots: map[string]string{}, Instances: []ClusterInstance{}}
	for _, i := range st.Instances {
		out.Instances = append(out.Instances, ClusterInstance{Ordinal: i.Ordinal, Shard: i.Shard, Pod: i.Pod, Address: i.Addr,
			Role: string(i.Role), Zone: i.Zone, Node: obs.Nodes[i.Ordinal], Ready: i.Ready, NodeID: i.NodeID,
			InSync: i.InSync, Keys: i.Keys, Image: i.Image, UsedMemory: i.UsedMemory})
	}
	if h := s.guardianHealth(ctx, in.Namespace, in.Name); h != nil {
		out.State, out.Reasons, out.Desired, out.ReadyInstances = h.State, h.Reasons, h.Desired, h.Ready
		out.PendingAuditEvents = h.PendingEvents
	}
	for _, sh := range slices.Sorted(maps.Keys(st.Slots)) {
		out.Slots[fmt.Sprintf("shard-%d", sh)] = st.Slots[sh].String()
	}
	if s.d.Store != nil {
		cs, _, err := projection.ClusterAsOf(ctx, s.d.Store, operation.ClusterKey(in.Namespace, in.Name), projection.Bound{})
		if err == nil && cs.LastOperation != nil {
			lo := cs.LastOperation
			out.LastOperation = &LastOperation{ID: lo.ID, Type: lo.Kind, Status: lo.Status, Error: lo.Error, Actor: lo.Actor, At: lo.At}
		}
	}
	return bodyOf(out), nil
}

// findOperation resolves an operation ID to its workflow execution. Visibility
// is eventually consistent, so a just-started operation is looked up again
// for a few seconds.
func (s *Server) findOperation(ctx context.Context, id string) (*workflowpb.WorkflowExecutionInfo, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, huma.Error422UnprocessableEntity("invalid operation ID",
			&huma.ErrorDetail{Location: "path.id", Message: "must be a UUID", Value: id})
	}
	q := fmt.Sprintf("%s = '%s'", workflows.SearchAttrOperationID, id)
	deadline := time.Now().Add(3 * time.Second)
	for {
		res, err := s.d.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: s.d.TemporalNamespace, Query: q, PageSize: 1})
		if err != nil {
			return nil, huma.Error503ServiceUnavailable("cannot query Temporal: " + err.Error())
		}
		if len(res.Executions) > 0 {
			return res.Executions[0], nil
		}
		if time.Now().After(deadline) {
			return nil, huma.Error404NotFound(fmt.Sprintf("operation %s does not exist", id))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func statusName(info *workflowpb.WorkflowExecutionInfo) string {
	n := info.GetStatus().String()
	n = strings.TrimPrefix(n, "WORKFLOW_EXECUTION_STATUS_")
	if n == "" {
		return "Unknown"
	}
	return strings.ToUpper(n[:1]) + strings.ToLower(n[1:])
}

func (s *Server) getOperation(ctx context.Context, in *struct {
	ID string `path:"id" doc:"operation ID"`
}) (*struct{ Body Operation }, error) {
	info, err := s.findOperation(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	sa := info.GetSearchAttributes().GetIndexedFields()
	wid, rid := info.GetExecution().GetWorkflowId(), info.GetExecution().GetRunId()
	ns, name, _ := strings.Cut(keyword(sa[workflows.SearchAttrCluster]), "/")
	op := Operation{OperationID: in.ID, Type: keyword(sa[workflows.SearchAttrOperation]), Namespace: ns, Cluster: name,
		Requester: keyword(sa[workflows.SearchAttrRequester]), Status: statusName(info), WorkflowID: wid, RunID: rid,
		TemporalURL: s.temporalURL(wid, rid)}
	if t := info.GetStartTime(); t != nil {
		op.StartedAt = t.AsTime()
	}
	if t := info.GetCloseTime(); t != nil {
		op.ClosedAt = t.AsTime()
	}
	if v, err := s.d.Temporal.QueryWorkflow(ctx, wid, rid, workflows.QueryProgress); err == nil {
		_ = v.Get(&op.Progress)
	}
	if op.Status != "Running" {
		var res workflows.Result
		if err := s.d.Temporal.GetWorkflow(ctx, wid, rid).Get(ctx, &res); err != nil {
			op.Error = err.Error()
		} else if op.Progress.OperationID == "" {
			op.Progress = res.Progress
		}
	}
	return bodyOf(op), nil
}

func (s *Server) cancelOperation(ctx context.Context, in *struct {
	ID string `path:"id" doc:"operation ID"`
}) (*struct {
	Status int
	Body   Operation
}, error) {
	info, err := s.findOperation(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	if st := statusName(info); st != "Running" {
		return nil, huma.Error409Conflict(fmt.Sprintf("operation %s already ended (%s)", in.ID, st))
	}
	wid, rid := info.GetExecution().GetWorkflowId(), info.GetExecution().GetRunId()
	if err := s.d.Temporal.CancelWorkflow(ctx, wid, rid); err != nil {
		return nil, huma.Error503ServiceUnavailable("cannot cancel: " + err.Error())
	}
	s.d.Log.InfoContext(ctx, "operation cancel requested", "operation_id", in.ID, "actor", access.Caller(ctx).Subject)
	return &struct {
		Status int
		Body   Operation
	}{Status: http.StatusAccepted, Body: Operation{OperationID: in.ID, Status: "CancelRequested", WorkflowID: wid, RunID: rid, TemporalURL: s.temporalURL(wid, rid)}}, nil
}

func (s *Server) listEvents(ctx context.Context, in *struct {
	ClusterPath
	After int64    `query:"after" minimum:"0" doc:"return events after this global position"`
	Limit int      `query:"limit" minimum:"1" maximum:"1000" default:"100"`
	Type  []string `query:"type" doc:"only these event types"`
}) (*struct{ Body EventPage }, error) {
	if err := validName(in.Name); err != nil {
		return nil, err
	}
	events, err := s.d.Store.Query(ctx, eventstore.Filter{Cluster: operation.ClusterKey(in.Namespace, in.Name), After: in.After, Limit: in.Limit, Types: in.Type})
	if err != nil {
		return nil, huma.Error503ServiceUnavailable("cannot read the audit log: " + err.Error())
	}
	page := EventPage{Events: []Event{}}
	for _, e := range events {
		var payload any
		_ = json.Unmarshal(e.Payload, &payload)
		page.Events = append(page.Events, Event{Position: e.Position, ID: e.ID.String(), Stream: e.Stream, Type: e.Type,
			SchemaVersion: e.SchemaVersion, Payload: payload, Actor: e.Metadata.Actor, Reason: e.Metadata.Reason,
			CorrelationID: e.Metadata.CorrelationID, CausationID: e.Metadata.CausationID, RecordedAt: e.RecordedAt})
	}
	if len(events) == in.Limit {
		page.Next = events[len(events)-1].Position
	}
	return bodyOf(page), nil
}

func (s *Server) credentials(ctx context.Context, in *ClusterPath) (*struct{ Body Credentials }, error) {
	if err := validName(in.Name); err != nil {
		return nil, err
	}
	obs, err := s.d.Clusters.Objects(ctx, in.Namespace, in.Name)
	if err != nil {
		return nil, huma.Error503ServiceUnavailable("cannot read Kubernetes: " + err.Error())
	}
	if obs.State.Spec.Name == "" {
		return nil, huma.Error404NotFound(fmt.Sprintf("cluster %s/%s does not exist", in.Namespace, in.Name))
	}
	secret, pw, err := s.d.Clusters.Password(ctx, obs.State.Spec)
	if err != nil {
		return nil, huma.Error503ServiceUnavailable("cannot read the password: " + err.Error())
	}
	c := Credentials{Namespace: in.Namespace, Cluster: in.Name, Password: pw, Secret: secret, Addresses: []string{}}
	for _, i := range obs.State.Instances {
		if i.Role == "primary" && i.Addr != "" {
			c.Addresses = append(c.Addresses, i.Addr)
		}
	}
	s.d.Log.InfoContext(ctx, "credentials read", "cluster", operation.ClusterKey(in.Namespace, in.Name), "actor", access.Caller(ctx).Subject)
	return bodyOf(c), nil
}
