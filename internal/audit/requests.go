package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/dayops/dayops/internal/eventstore"
)

// Event types of what was asked of the API, beside the operations it
// started: who was refused, who read a cluster's credentials, who changed a
// backup schedule, who asked to cancel an operation. The actor is the
// event's metadata, as everywhere.
const (
	TypeRequestRefused  = "RequestRefused"
	TypeCredentialsRead = "CredentialsRead"
	TypeScheduleChanged = "ScheduleChanged"
	TypeCancelRequested = "CancelRequested"
)

// IsRequestRecord says whether typ is one of the API's request records
// above (not an operation's event).
func IsRequestRecord(typ string) bool {
	switch typ {
	case TypeRequestRefused, TypeCredentialsRead, TypeScheduleChanged, TypeCancelRequested:
		return true
	}
	return false
}

// APIRequest describes one API request; the request event types share it.
type APIRequest struct {
	// Route is the API's route pattern, e.g. "POST /v1/clusters/{name}/operations".
	Route  string `json:"route"`
	Path   string `json:"path"`
	Status int    `json:"status"`
	// Cluster is "namespace/name" when the request names one.
	Cluster     string `json:"cluster,omitempty"`
	OperationID string `json:"operation_id,omitempty"`
	// Error is the refusal's message (RequestRefused).
	Error string `json:"error,omitempty"`
	// Params are the query and body of the request, redacted (Redact) and
	// bounded (MaxParamsBytes).
	Params json.RawMessage `json:"params,omitempty"`
}

// RequestRefused: a mutating request (or a credentials read) answered 4xx,
// 401 and 403 included: nothing was started.
type RequestRefused struct{ APIRequest }

// CredentialsRead: someone was given a cluster's password.
type CredentialsRead struct{ APIRequest }

// ScheduleChanged: a backup schedule was set or removed.
type ScheduleChanged struct{ APIRequest }

// CancelRequested: someone asked to cancel an operation (its workflow
// records OperationCancelled when it stops).
type CancelRequested struct{ APIRequest }

func (RequestRefused) EventType() string  { return TypeRequestRefused }
func (CredentialsRead) EventType() string { return TypeCredentialsRead }
func (ScheduleChanged) EventType() string { return TypeScheduleChanged }
func (CancelRequested) EventType() string { return TypeCancelRequested }

func (p RequestRefused) SchemaVersion() int  { return schemaVersions[p.EventType()] }
func (p CredentialsRead) SchemaVersion() int { return schemaVersions[p.EventType()] }
func (p ScheduleChanged) SchemaVersion() int { return schemaVersions[p.EventType()] }
func (p CancelRequested) SchemaVersion() int { return schemaVersions[p.EventType()] }

func (p APIRequest) ClusterName() string { return p.Cluster }

// RequestStream is where request events that name neither a cluster nor an
// operation go.
var RequestStream = eventstore.StreamName{Category: eventstore.CategoryAPI, ID: "requests"}

func (r APIRequest) request() APIRequest { return r }

// stream: request events go to the operation's stream when they name one,
// else to the cluster's, else to RequestStream.
func (r APIRequest) stream() eventstore.StreamName {
	switch {
	case r.OperationID != "":
		return eventstore.OperationStream(r.OperationID)
	case r.Cluster != "":
		return eventstore.ClusterStream(r.Cluster)
	}
	return RequestStream
}

func init() {
	for _, t := range []string{TypeRequestRefused, TypeCredentialsRead, TypeScheduleChanged, TypeCancelRequested} {
		schemaVersions[t] = 1
	}
}

func newRequestPayload(eventType string) Payload {
	switch eventType {
	case TypeRequestRefused:
		return &RequestRefused{}
	case TypeCredentialsRead:
		return &CredentialsRead{}
	case TypeScheduleChanged:
		return &ScheduleChanged{}
	case TypeCancelRequested:
		return &CancelRequested{}
	}
	return nil
}

// Redacted replaces every secret value Redact finds; urlRedacted is its
// form inside a URL (no characters that need escaping).
const (
	Redacted    = "[REDACTED]"
	urlRedacted = "REDACTED"
)

// MaxParamsBytes bounds recorded request parameters: larger ones are
// replaced by their size and SHA-256 (ParamsDigest), so one huge request
// can never push its event over the store's limits.
const MaxParamsBytes = 4 << 10

// secretWords mark an object key whose value is a secret.
var secretWords = []string{"password", "passwd", "secret", "token", "apikey", "api_key", "authorization",
	"credential", "privatekey", "private_key", "accesskey", "access_key", "signingkey", "signing_key"}

// notSecret are keys that contain a secret word but name a secret's
// location, not its value: auditors need them.
var notSecret = map[string]bool{"passwordsecret": true, "passwordsecretname": true}

func secretKey(k string) bool {
	k = strings.ToLower(k)
	if notSecret[k] {
		return false
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// Redact returns a copy of the JSON document raw with every secret value
// replaced by Redacted: values under keys that name a secret (password,
// token, secret, authorization, ...; a Secret's *name* such as
// passwordSecret is kept) and the password of URLs with credentials
// (https://user:pass@host). Input that is not JSON is replaced by its size
// and digest: it cannot be checked, so it is not recorded.
func Redact(raw []byte) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return ParamsDigest(raw)
	}
	b, err := json.Marshal(redactValue(v))
	if err != nil {
		return ParamsDigest(raw)
	}
	return b
}

func redactValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if secretKey(k) && e != nil {
				x[k] = Redacted
				continue
			}
			x[k] = redactValue(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = redactValue(e)
		}
		return x
	case string:
		return redactURL(x)
	}
	return v
}

// redactURL hides the password (and any secret query value) of a URL.
func redactURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return s
	}
	changed := false
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), urlRedacted)
		changed = true
	}
	if q := u.Query(); len(q) > 0 {
		for k := range q {
			if secretKey(k) {
				q.Set(k, urlRedacted)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return s
	}
	return u.String()
}

// ParamsDigest stands for parameters too large (or not JSON) to record.
func ParamsDigest(raw []byte) json.RawMessage {
	sum := sha256.Sum256(raw)
	b, _ := json.Marshal(map[string]any{"omitted": true, "size": len(raw), "sha256": hex.EncodeToString(sum[:])})
	return b
}

// RequestParams builds the recorded parameters of a request: its query (the
// first value of each key) and JSON body, redacted, bounded by
// MaxParamsBytes. body may be nil.
func RequestParams(query url.Values, body []byte) json.RawMessage {
	doc := map[string]json.RawMessage{}
	if len(query) > 0 {
		q := map[string]string{}
		for k, vs := range query {
			if len(vs) > 0 {
				q[k] = vs[0]
			}
		}
		b, _ := json.Marshal(q)
		doc["query"] = Redact(b)
	}
	if b := Redact(body); b != nil {
		doc["body"] = b
	}
	if len(doc) == 0 {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil
	}
	if len(out) > MaxParamsBytes {
		return ParamsDigest(out)
	}
	return out
}
