package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/dayops/dayops/internal/admission"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi/access"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/workflows"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Deps are what the API works with.
type Deps struct {
	Temporal client.Client
	// TemporalNamespace and TemporalUI build links to operations.
	TemporalNamespace string
	TemporalUI        string
	// TaskQueue is where workflows start (default workflows.TaskQueue).
	TaskQueue string
	// Clusters reads live clusters (an adapter the server wires).
	Clusters Clusters
	Store    *eventstore.Store
	Tokens   Tokens
	Limits   planner.Limits
	Log      *slog.Logger
	// Ready reports whether dependencies answer (for /readyz).
	Ready func(context.Context) error
	// Registry receives the API's metrics (default: a new registry).
	Registry *prometheus.Registry
	// Backups is the backup store (nil: backup requests are refused).
	Backups backupstore.Store
	// Admission is the registry requests are admitted through (default:
	// admission.New over Clusters, Backups and Limits).
	Admission *admission.Registry
}

// Server is the REST API.
type Server struct {
	d         Deps
	admission *admission.Registry
	api       huma.API
	mux       *http.ServeMux
	metrics   metrics
}

type metrics struct {
	requests   *prometheus.CounterVec
	operations *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

// New builds the API.
func New(d Deps) *Server {
	if d.TemporalNamespace == "" {
		d.TemporalNamespace = "default"
	}
	if d.TaskQueue == "" {
		d.TaskQueue = workflows.TaskQueue
	}
	if d.Limits.Spec.MaxShards == 0 {
		d.Limits = planner.DefaultLimits
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.Admission == nil {
		var health admission.Health
		if d.Temporal != nil {
			health = guardians{d.Temporal}
		}
		d.Admission = admission.New(admission.Sources{Cluster: d.Clusters, Backups: d.Backups, Health: health}, d.Limits)
	}
	s := &Server{d: d, admission: d.Admission, mux: http.NewServeMux()}
	s.metrics = metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dayops_api_requests_total",
			Help: "API requests by operation and HTTP status."}, []string{"operation", "status"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dayops_operations_started_total",
			Help: "Operations started, by type."}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dayops_operations_rejected_total",
			Help: "Operation requests refused by admission, by type and HTTP status."}, []string{"type", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dayops_api_request_seconds",
			Help: "API request latency.", Buckets: prometheus.DefBuckets}, []string{"operation"}),
	}
	d.Registry.MustRegister(s.metrics.requests, s.metrics.operations, s.metrics.rejected, s.metrics.latency)

	cfg := huma.DefaultConfig("dayops API", "1.0.0")
	cfg.Info.Description = "Day-2 operations for Redis Cluster on Kubernetes. Every mutating call starts a durable Temporal workflow and is recorded in the audit log."
	cfg.OpenAPIPath = "/openapi"
	cfg.DocsPath = ""
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "an operator or auditor token"},
	}
	api := humago.New(s.mux, cfg)
	api.UseMiddleware(s.observe, access.Authenticate(api, d.Tokens))
	s.api = api
	s.routes()
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{}))
	return s
}

// Handler serves the API.
func (s *Server) Handler() http.Handler {
	return access.Recorder{Store: s.d.Store, Log: s.d.Log, Tokens: s.d.Tokens, Mux: s.mux}.Wrap(s.mux)
}

// endpoint is a secured operation of the OpenAPI document: route is
// "METHOD /path", role who may call it, desc the longer description (may be
// empty) and errs its error statuses besides 401 and 403 (Secured adds them).
func endpoint(role Role, route, id, tag, summary, desc string, errs ...int) huma.Operation {
	method, path, _ := strings.Cut(route, " ")
	return access.Secured(role, huma.Operation{OperationID: id, Method: method, Path: path, Tags: []string{tag},
		Summary: summary, Description: desc, Errors: errs})
}

// bodyOf is a handler's answer with v as its body.
func bodyOf[T any](v T) *struct{ Body T } { return &struct{ Body T }{Body: v} }

// validName refuses a cluster name in a request path that is not a DNS label.
func validName(name string) error {
	if errs := spec.ValidateName(field.NewPath("name"), name); len(errs) > 0 {
		return rejection(errs, false, "path.")
	}
	return nil
}

// OpenAPI returns the generated document.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.d.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.d.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

func (s *Server) observe(ctx huma.Context, next func(huma.Context)) {
	start := time.Now()
	next(ctx)
	op := ctx.Operation().OperationID
	s.metrics.requests.WithLabelValues(op, fmt.Sprint(ctx.Status())).Inc()
	s.metrics.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// rejection turns a planner or validation rejection into a 4xx naming every
// field and reason.
func rejection(errs field.ErrorList, conflict bool, prefix string) error {
	if conflict {
		return huma.Error409Conflict("the cluster's current state does not allow this operation", details(prefix, errs)...)
	}
	return huma.Error422UnprocessableEntity("validation failed", details(prefix, errs)...)
}

func (s *Server) temporalURL(workflowID, runID string) string {
	if s.d.TemporalUI == "" {
		return ""
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", strings.TrimRight(s.d.TemporalUI, "/"),
		url.PathEscape(s.d.TemporalNamespace), url.PathEscape(workflowID), url.PathEscape(runID))
}

// newOperationID returns a time-ordered UUID (v7).
func newOperationID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}
