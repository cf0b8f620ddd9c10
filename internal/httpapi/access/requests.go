package access

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/eventstore/outage"
	"github.com/dayops/dayops/internal/operation"
	"github.com/google/uuid"
)

// What was asked is recorded, not only what ran: this wrapper sits in front
// of every route (outside huma's middleware, so 401 and 403 are seen too)
// and writes an audit event, with the actor, for
//   - every mutating request (and credentials read) answered 4xx: RequestRefused;
//   - every credentials read: CredentialsRead;
//   - every backup schedule set or removed: ScheduleChanged;
//   - every cancel: CancelRequested.
// It also hands the request's redacted parameters to the handlers
// (RequestParams), which put them in the operation's Meta, from where the
// workflow's OperationRequested event records them.

// maxRecordedBody is the most of a request body the wrapper reads to record
// it; a larger body is recorded by size and digest of this prefix.
const maxRecordedBody = 1 << 20

type paramsKey struct{}

// requestParams returns the redacted parameters of the request ctx serves.
// RequestParams returns the redacted parameters of the request, as the
// Recorder handed them to the handlers.
func RequestParams(ctx context.Context) json.RawMessage {
	p, _ := ctx.Value(paramsKey{}).(json.RawMessage)
	return p
}

// statusWriter keeps the status and the start of an error response.
type statusWriter struct {
	http.ResponseWriter
	status int
	errBuf bytes.Buffer
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= 400 && w.errBuf.Len() < 4096 {
		w.errBuf.Write(b[:min(len(b), 4096-w.errBuf.Len())])
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func mutating(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// Route patterns the wrapper records on success.
const (
	routeCredentials    = "GET /v1/clusters/{name}/credentials"
	routePutSchedule    = "PUT /v1/clusters/{name}/backup-schedule"
	routeDeleteSchedule = "DELETE /v1/clusters/{name}/backup-schedule"
	routeCancel         = "POST /v1/operations/{id}/cancel"
)

// Recorder writes the audit events of requests (see above) to Store; with
// no Store it only hands the parameters on.
type Recorder struct {
	Store  *eventstore.Store
	Log    *slog.Logger
	Tokens Tokens
	// Mux routes the requests: its pattern names the route recorded.
	Mux *http.ServeMux
}

// Wrap records the requests next serves.
func (rec Recorder) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := rec.Mux.Handler(r)
		if !mutating(r.Method) && pattern != routeCredentials {
			next.ServeHTTP(w, r)
			return
		}
		var body []byte
		if r.Body != nil && r.Body != http.NoBody {
			var err error
			body, err = io.ReadAll(io.LimitReader(r.Body, maxRecordedBody+1))
			rest := r.Body
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), rest), rest}
			if err != nil {
				body = nil
			}
		}
		params := audit.RequestParams(r.URL.Query(), body)
		if len(body) > maxRecordedBody {
			params = audit.ParamsDigest(body)
		}
		r = r.WithContext(context.WithValue(r.Context(), paramsKey{}, params))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		rec.record(r, pattern, sw, params)
	})
}

func (rec Recorder) record(r *http.Request, pattern string, sw *statusWriter, params json.RawMessage) {
	if rec.Store == nil {
		return
	}
	req := audit.APIRequest{Route: pattern, Path: bounded(r.URL.Path, 512), Status: sw.status, Params: params}
	if pattern == "" {
		req.Route = r.Method + " (no route)"
	}
	vals := pathValues(pattern, r.URL.Path)
	if name, ok := vals["name"]; ok && strings.HasPrefix(pattern[strings.Index(pattern, " ")+1:], "/v1/clusters/") {
		ns := r.URL.Query().Get("namespace")
		if ns == "" {
			ns = "default"
		}
		if key := operation.ClusterKey(ns, name); validID(key) {
			req.Cluster = key
		}
	}
	if id, ok := vals["id"]; ok && strings.HasPrefix(pattern[strings.Index(pattern, " ")+1:], "/v1/operations/") && validID(id) {
		req.OperationID = id
	}
	var p audit.Payload
	ok2xx := sw.status >= 200 && sw.status < 300
	switch {
	case sw.status >= 400 && sw.status < 500:
		req.Error = problemDetail(sw.errBuf.Bytes())
		p = audit.RequestRefused{APIRequest: req}
	case ok2xx && pattern == routeCredentials:
		req.Params = nil
		p = audit.CredentialsRead{APIRequest: req}
	case ok2xx && (pattern == routePutSchedule || pattern == routeDeleteSchedule):
		p = audit.ScheduleChanged{APIRequest: req}
	case ok2xx && pattern == routeCancel:
		p = audit.CancelRequested{APIRequest: req}
	default:
		return
	}
	actor := "anonymous"
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok != "" {
		if pr, found := rec.Tokens.lookup(tok); found {
			actor = pr.Subject
		} else {
			actor = "anonymous (unknown token)"
		}
	}
	ev, err := audit.NewEvent(uuid.New(), p, eventstore.Metadata{Actor: actor, CorrelationID: req.OperationID})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		// A restart or failover of the database is ridden out within the
		// 5 s: the request was served, its record must not be lost to it.
		_, _, err = outage.Append(ctx, rec.Store, 5*time.Second, audit.Stream(p), eventstore.Any(), ev)
	}
	if err != nil {
		rec.Log.ErrorContext(r.Context(), "request not recorded in the audit log", "route", req.Route, "status", sw.status, "actor", actor, "err", err)
	}
}

// pathValues matches a route pattern's path ("/v1/clusters/{name}") with a
// request path and returns the wildcard values.
func pathValues(pattern, path string) map[string]string {
	_, pp, ok := strings.Cut(pattern, " ")
	if !ok {
		pp = pattern
	}
	ps, rs := strings.Split(strings.Trim(pp, "/"), "/"), strings.Split(strings.Trim(path, "/"), "/")
	if len(ps) != len(rs) {
		return nil
	}
	out := map[string]string{}
	for i, seg := range ps {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out[strings.Trim(seg, "{}.")] = rs[i]
		}
	}
	return out
}

// validID keeps names that can name a stream; others go to the API's stream.
func validID(s string) bool {
	return s != "" && len(s) <= 320 && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// problemDetail takes the "detail" of an RFC 9457 error body (never its
// per-field values, which may echo what was sent), bounded.
func problemDetail(b []byte) string {
	var pd struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(b, &pd) != nil {
		return ""
	}
	return bounded(pd.Detail, 512)
}

func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
