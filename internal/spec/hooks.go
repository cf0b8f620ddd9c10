package spec

import "net/url"

// HookPoint names the moment of an operation at which a hook runs.
type HookPoint string

// Hook points. Pre-hooks run before the step changes anything; a failing
// blocking pre-hook stops the operation cleanly.
const (
	PreCreate         HookPoint = "pre-create"
	PostCreate        HookPoint = "post-create"
	PreShardAdd       HookPoint = "pre-shard-add"
	PostShardAdd      HookPoint = "post-shard-add"
	PreShardRemove    HookPoint = "pre-shard-remove"
	PostShardRemove   HookPoint = "post-shard-remove"
	PreMigrate        HookPoint = "pre-migrate"
	PostMigrate       HookPoint = "post-migrate"
	PreReplicaAdd     HookPoint = "pre-replica-add"
	PostReplicaAdd    HookPoint = "post-replica-add"
	PreReplicaRemove  HookPoint = "pre-replica-remove"
	PostReplicaRemove HookPoint = "post-replica-remove"
	PostPromote       HookPoint = "post-promote"
	PreDelete         HookPoint = "pre-delete"
	// UpgradeGate hooks are user health gates of an upgrade: an HTTP hook
	// answering 2xx passes, anything else fails the gate (and rolls back).
	UpgradeGate HookPoint = "upgrade-gate"
)

// HookPoints lists every valid point in the order an operation reaches them.
var HookPoints = []HookPoint{
	PreCreate, PostCreate, PreShardAdd, PostShardAdd, PreShardRemove, PostShardRemove,
	PreMigrate, PostMigrate, PreReplicaAdd, PostReplicaAdd, PreReplicaRemove, PostReplicaRemove,
	PostPromote, PreDelete, UpgradeGate,
}

// HookScope says how many times a hook runs at its point.
type HookScope string

// Hook scopes.
const (
	// ScopeCluster runs the hook once per point.
	ScopeCluster HookScope = "cluster"
	// ScopeShard runs it once per shard the step touches (exec hooks run in the shard's primary).
	ScopeShard HookScope = "shard"
	// ScopeReplica runs it once per replica the step touches (exec hooks run in that replica).
	ScopeReplica HookScope = "replica"
)

// FailurePolicy says what a failed hook (after its retries) does to the operation.
type FailurePolicy string

// Failure policies.
const (
	// FailOperation stops the operation; for a pre-hook, before the step changes anything.
	FailOperation FailurePolicy = "fail"
	// IgnoreFailure records the failure as an audit event and goes on.
	IgnoreFailure FailurePolicy = "ignore"
)

// Hook is one user action at a named point. Exactly one of HTTP and Exec is set.
type Hook struct {
	// Name identifies the hook in audit events and progress; unique per point.
	Name  string    `json:"name"`
	Point HookPoint `json:"point"`
	// Scope is cluster, shard or replica (default shard).
	Scope HookScope `json:"scope,omitempty"`
	HTTP  *HTTPHook `json:"http,omitempty"`
	Exec  *ExecHook `json:"exec,omitempty"`
	// Timeout of one attempt (default 30s).
	Timeout Duration `json:"timeout,omitzero"`
	// Retries after the first attempt (default 2).
	Retries *int `json:"retries,omitempty"`
	// FailurePolicy is fail or ignore (default fail).
	FailurePolicy FailurePolicy `json:"failurePolicy,omitempty"`
}

// HTTPHook POSTs the step's context as JSON to URL; a 2xx answer is success.
type HTTPHook struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
}

// ExecHook runs Command in the instance's pod (via the pods/exec API); exit 0 is success.
type ExecHook struct {
	Command []string `json:"command"`
}

// RedactURL returns u with its credentials hidden, for events, errors and
// logs: the user information and every query value (tokens often travel
// there) become "REDACTED". A URL that does not parse is hidden entirely.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparseable URL)"
	}
	if p.User != nil {
		p.User = url.User("REDACTED")
	}
	if p.RawQuery != "" {
		q := p.Query()
		for k := range q {
			q[k] = []string{"REDACTED"}
		}
		p.RawQuery = q.Encode()
	}
	return p.String()
}
