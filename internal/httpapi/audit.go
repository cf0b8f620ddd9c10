package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/auditquery"
	"github.com/dayops/dayops/internal/httpapi/access"
	"github.com/dayops/dayops/internal/operation"
)

// auditRoutes serve the audit log to auditors over REST, so that reading,
// verifying and replaying it needs a token, not a database password.
func (s *Server) auditRoutes() {
	api := s.api
	huma.Register(api, endpoint(RoleAuditor, "GET /v1/audit/events", "list-audit-events", "audit",
		"Audit events of every cluster, filtered and paged",
		"Events in position order (newest first with reverse=true). next is the after (reversed: the before) of the next page; 0 when there is none.",
		http.StatusUnprocessableEntity, http.StatusServiceUnavailable), s.listAuditEvents)
	verify := endpoint(RoleAuditor, "POST /v1/audit/verify", "verify-audit-log", "audit",
		"Recompute the hash chain and check the signed checkpoints",
		"Walks the whole log. A broken chain is a 200 answer with intact=false naming the first broken event; signatures are checked only against the public keys sent. "+
			"A log without any checkpoint fails (no_checkpoint) unless allowNoCheckpoint. checkpointCopies are copies the auditor read from the backup store (the server does not read them: they are the auditor's evidence); each must be in the database unchanged.",
		http.StatusUnprocessableEntity, http.StatusServiceUnavailable)
	verify.MaxBodyBytes = 64 << 20 // a year of checkpoint copies is a few MB of JSON
	huma.Register(api, verify, s.verifyAuditLog)
	huma.Register(api, endpoint(RoleAuditor, "GET /v1/audit/state", "audit-state", "audit",
		"A cluster's state replayed from the audit log as of a time or position",
		"cluster is the audit key <namespace>/<name>; also for deleted clusters.",
		http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable), s.auditState)
	huma.Register(api, endpoint(RoleAuditor, "GET /v1/clusters/{name}/state", "cluster-audit-state", "audit",
		"A cluster's state replayed from the audit log as of a time or position", "",
		http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable), s.clusterAuditState)
}

func (s *Server) auditQuery() (auditquery.Service, error) {
	if s.d.Store == nil {
		return auditquery.Service{}, huma.Error503ServiceUnavailable("no audit log configured")
	}
	return auditquery.Service{Store: s.d.Store}, nil
}

// auditError maps auditquery's errors to statuses.
func auditError(err error) error {
	switch {
	case errors.Is(err, auditquery.ErrInvalid):
		return huma.Error422UnprocessableEntity(err.Error())
	case errors.Is(err, auditquery.ErrClusterNotFound):
		return huma.Error404NotFound(err.Error())
	}
	return huma.Error503ServiceUnavailable("cannot read the audit log: " + err.Error())
}

func (s *Server) listAuditEvents(ctx context.Context, in *struct {
	Cluster   string   `query:"cluster" doc:"only events about this cluster (audit key <namespace>/<name>)"`
	Operation string   `query:"operation" doc:"only events of this operation"`
	Type      []string `query:"type" doc:"only these event types"`
	Since     string   `query:"since" doc:"recorded at or after (RFC 3339)"`
	Until     string   `query:"until" doc:"recorded at or before (RFC 3339)"`
	After     int64    `query:"after" minimum:"0" doc:"events after this global position"`
	Before    int64    `query:"before" minimum:"0" doc:"events before this global position (paging with reverse)"`
	Limit     int      `query:"limit" minimum:"1" maximum:"1000" default:"100"`
	Reverse   bool     `query:"reverse" doc:"newest first"`
	Hashes    bool     `query:"hashes" doc:"include each event's chain hash"`
}) (*struct{ Body apiv1.EventPage }, error) {
	q := apiv1.AuditEventQuery{Cluster: in.Cluster, Operation: in.Operation, Types: in.Type, After: in.After,
		Before: in.Before, Limit: in.Limit, Reverse: in.Reverse, Hashes: in.Hashes}
	var errs []error
	for _, t := range []struct {
		name, v string
		to      *time.Time
	}{{"since", in.Since, &q.Since}, {"until", in.Until, &q.Until}} {
		if t.v == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.v)
		if err != nil {
			errs = append(errs, &huma.ErrorDetail{Location: "query." + t.name, Message: "want an RFC 3339 time", Value: t.v})
			continue
		}
		*t.to = v
	}
	if len(errs) > 0 {
		return nil, huma.Error422UnprocessableEntity("validation failed", errs...)
	}
	svc, err := s.auditQuery()
	if err != nil {
		return nil, err
	}
	page, err := svc.Events(ctx, q)
	if err != nil {
		return nil, auditError(err)
	}
	return bodyOf(page), nil
}

func (s *Server) verifyAuditLog(ctx context.Context, in *struct {
	Body apiv1.AuditVerifyRequest
}) (*struct{ Body apiv1.AuditVerifyReport }, error) {
	svc, err := s.auditQuery()
	if err != nil {
		return nil, err
	}
	rep, err := svc.Verify(ctx, in.Body)
	if err != nil {
		return nil, auditError(err)
	}
	s.d.Log.InfoContext(ctx, "audit log verified", "actor", access.Caller(ctx).Subject, "intact", rep.Intact,
		"events", rep.Events, "problem", rep.Problem, "position", rep.Position)
	return bodyOf(rep), nil
}

// AsOfQuery bounds an audit replay.
type AsOfQuery struct {
	AsOf string `query:"asOf" doc:"global position, RFC 3339 time, or duration before now (2h); default now"`
}

func (s *Server) auditState(ctx context.Context, in *struct {
	Cluster string `query:"cluster" required:"true" doc:"audit key of the cluster: <namespace>/<name>"`
	AsOfQuery
}) (*struct{ Body apiv1.AuditState }, error) {
	return s.stateAsOf(ctx, in.Cluster, in.AsOf)
}

func (s *Server) clusterAuditState(ctx context.Context, in *struct {
	ClusterPath
	AsOfQuery
}) (*struct{ Body apiv1.AuditState }, error) {
	if err := validName(in.Name); err != nil {
		return nil, err
	}
	return s.stateAsOf(ctx, operation.ClusterKey(in.Namespace, in.Name), in.AsOf)
}

func (s *Server) stateAsOf(ctx context.Context, cluster, asOf string) (*struct{ Body apiv1.AuditState }, error) {
	svc, err := s.auditQuery()
	if err != nil {
		return nil, err
	}
	st, err := svc.State(ctx, cluster, asOf, time.Now())
	if err != nil {
		return nil, auditError(fmt.Errorf("state of %s: %w", cluster, err))
	}
	return bodyOf(st), nil
}
