package apiv1

import (
	"slices"
	"time"
)

// AuditPageMax is the most events one page of GET /v1/audit/events holds.
const AuditPageMax = 1000

// AuditEventQuery selects audit events (GET /v1/audit/events). Zero fields do
// not filter. Pages go forward by After; with Reverse (newest first) by
// Before. EventPage.Next is the After (or, reversed, the Before) of the next
// page, 0 when there is none.
type AuditEventQuery struct {
	Cluster   string    // events whose metadata names this cluster key ("<namespace>/<name>")
	Operation string    // events of one operation
	Types     []string  // any of these event types
	Since     time.Time // recorded at or after
	Until     time.Time // recorded at or before
	After     int64     // position > After
	Before    int64     // position < Before when > 0
	Limit     int       // at most Limit (1..AuditPageMax)
	Reverse   bool      // newest first
	Hashes    bool      // include each event's chain hash
}

// AuditVerifyRequest asks for the hash chain to be recomputed
// (POST /v1/audit/verify).
type AuditVerifyRequest struct {
	// PublicKeys are the Ed25519 checkpoint keys (PEM or base64) the
	// auditor trusts; without any, signatures are not checked.
	PublicKeys []string `json:"publicKeys,omitempty" doc:"Ed25519 public keys (PEM or base64) that sign checkpoints; none: signatures are not checked"`
	// AllowNoCheckpoint lets a log without any checkpoint pass (a new
	// install). Otherwise "nothing signed" is the problem no_checkpoint:
	// a log deleted together with its checkpoints must not look healthy.
	AllowNoCheckpoint bool `json:"allowNoCheckpoint,omitempty" doc:"pass a log that has no checkpoint at all (a new install); otherwise that is the problem no_checkpoint"`
	// MaxCheckpointAge, a Go duration ("15m"), fails verification when the
	// newest checkpoint was signed longer ago (stale_checkpoint); empty or
	// "0": no bound.
	MaxCheckpointAge string `json:"maxCheckpointAge,omitempty" doc:"Go duration (15m): fail when the newest checkpoint was signed longer ago; empty: no bound"`
	// CheckpointCopies are checkpoints the auditor read from outside the
	// database (the backup store the signer copies to, `dayops audit
	// verify --backup-store`): each must be in the database unchanged. The
	// auditor reads them, not the server, so that they are evidence the
	// server's credentials cannot shape.
	CheckpointCopies []AuditCheckpointCopy `json:"checkpointCopies,omitempty" doc:"checkpoint copies read from the backup store; each must be in the database unchanged"`
}

// AuditCheckpointCopyPrefix is where the signer copies checkpoints in the
// backup store: <prefix><seq, 12 digits>.json, one AuditCheckpointCopy each.
const AuditCheckpointCopyPrefix = "audit/checkpoints/"

// AuditCheckpointCopy is a signed checkpoint as copied out of the database
// (the JSON of a backup-store copy, passed through verbatim).
type AuditCheckpointCopy struct {
	Seq       int64     `json:"seq"`
	Position  int64     `json:"position"`
	Hash      []byte    `json:"hash"`
	SignedAt  time.Time `json:"signed_at"`
	KeyID     string    `json:"key_id"`
	Signature []byte    `json:"signature"`
	Format    int       `json:"format"`
}

// AuditVerifyReport is the outcome of a verification. A broken chain is an
// answer, not an API error: Intact is false and Problem, Position, EventID
// and Error name the first inconsistency.
type AuditVerifyReport struct {
	Intact               bool   `json:"intact"`
	Events               int64  `json:"events"`
	HeadPosition         int64  `json:"headPosition"`
	HeadHash             string `json:"headHash,omitempty"`
	Checkpoints          int    `json:"checkpoints"`
	SignaturesChecked    int    `json:"signaturesChecked"`
	LastSignedCheckpoint int64  `json:"lastSignedCheckpoint"`
	// KeyIDs name the public keys the signatures were checked with.
	KeyIDs []string `json:"keyIds,omitempty"`
	// NewestCheckpoint is the seq of the newest checkpoint (0: none) and
	// NewestCheckpointSignedAt when it was signed.
	NewestCheckpoint         int64     `json:"newestCheckpoint,omitempty"`
	NewestCheckpointSignedAt time.Time `json:"newestCheckpointSignedAt,omitzero"`
	// CheckpointCopiesChecked counts the request's CheckpointCopies found in
	// the database unchanged.
	CheckpointCopiesChecked int `json:"checkpointCopiesChecked,omitempty"`
	// Problem is the kind of the first inconsistency (gap, hash_mismatch,
	// prev_hash_mismatch, checkpoint_mismatch, bad_signature, truncated,
	// no_checkpoint, stale_checkpoint, checkpoint_missing, ...).
	Problem  string `json:"problem,omitempty"`
	Position int64  `json:"position,omitempty"`
	EventID  string `json:"eventId,omitempty"`
	Error    string `json:"error,omitempty"`
	// Seconds is how long the verification took.
	Seconds float64 `json:"seconds"`
}

// AuditState is a cluster's state replayed from the audit log as of a time
// or position, with the timelines of its operations (GET /v1/audit/state).
// Its JSON is the `dayops audit state --output json` format (snake_case, as
// the projections are stored).
type AuditState struct {
	AsOf       string             `json:"as_of"`
	Cluster    *AuditClusterState `json:"cluster"`
	Operations []*AuditTimeline   `json:"operations"`
}

// AuditClusterState is the topology of one Redis cluster as the log tells it.
type AuditClusterState struct {
	Name          string                      `json:"name"`
	Deleted       bool                        `json:"deleted,omitempty"`
	RedisVersion  string                      `json:"redis_version,omitempty"`
	Image         string                      `json:"image,omitempty"`
	CreatedAt     time.Time                   `json:"created_at,omitzero"`
	UpdatedAt     time.Time                   `json:"updated_at,omitzero"`
	Shards        map[int]*AuditShardState    `json:"shards,omitempty"`
	Instances     map[int]*AuditInstanceState `json:"instances,omitempty"` // by ordinal
	LastOperation *AuditOperationSummary      `json:"last_operation,omitempty"`
	Position      int64                       `json:"position"` // last event applied
}

// SlotCount is the number of slots assigned to the cluster's shards.
func (c *AuditClusterState) SlotCount() int {
	n := 0
	for _, sh := range c.Shards {
		for _, r := range sh.Slots {
			n += r.End - r.Start + 1
		}
	}
	return n
}

// AuditSlotRange is an inclusive range of slots.
type AuditSlotRange struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// Lost returns the ordinals of the instances the log records lost and not
// recovered since, in order.
func (c *AuditClusterState) Lost() []int {
	var out []int
	for o, in := range c.Instances {
		if in.LostReason != "" {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// AuditShardState is one shard: its slots.
type AuditShardState struct {
	ID    int              `json:"id"`
	Slots []AuditSlotRange `json:"slots,omitempty"`
}

// AuditInstanceState is one instance (pod + volume) by its stable ordinal.
type AuditInstanceState struct {
	Ordinal      int       `json:"ordinal"`
	Shard        int       `json:"shard"`
	Pod          string    `json:"pod,omitempty"`
	Zone         string    `json:"zone,omitempty"`
	Role         string    `json:"role,omitempty"`
	Image        string    `json:"image,omitempty"`
	RedisVersion string    `json:"redis_version,omitempty"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	// LostReason says why the instance is lost, as InstanceLost recorded
	// it: not yet recovered (InstanceRecovered clears it). "" when it is
	// not lost.
	LostReason string `json:"lost_reason,omitempty"`
}

// AuditOperationSummary is the last operation on a cluster and how it ended.
type AuditOperationSummary struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind,omitempty"`
	Status string    `json:"status"`
	Error  string    `json:"error,omitempty"`
	Actor  string    `json:"actor,omitempty"`
	At     time.Time `json:"at"`
}

// Audit timeline statuses and step outcomes.
const (
	AuditStatusRequested = "requested"
	AuditStatusRunning   = "running"
	AuditStatusCompleted = "completed"
	AuditStatusFailed    = "failed"
	AuditStatusCancelled = "cancelled"
)

// AuditTimeline is one operation with each step's start, end and outcome.
type AuditTimeline struct {
	OperationID string           `json:"operation_id"`
	Cluster     string           `json:"cluster"`
	Kind        string           `json:"kind,omitempty"`
	Status      string           `json:"status"`
	Actor       string           `json:"actor,omitempty"`
	Reason      string           `json:"reason,omitempty"`
	RequestedAt time.Time        `json:"requested_at,omitzero"`
	StartedAt   time.Time        `json:"started_at,omitzero"`
	EndedAt     time.Time        `json:"ended_at,omitzero"`
	Error       string           `json:"error,omitempty"`
	Steps       []AuditStepState `json:"steps,omitempty"`
	Hooks       []AuditHookState `json:"hooks,omitempty"`
	Position    int64            `json:"position"`
}

// AuditStepState is one step of a timeline.
type AuditStepState struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Target  string    `json:"target,omitempty"`
	Start   time.Time `json:"start,omitzero"`
	End     time.Time `json:"end,omitzero"`
	Outcome string    `json:"outcome"` // running, completed, failed
	Detail  string    `json:"detail,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// AuditHookState is one hook run of a timeline.
type AuditHookState struct {
	Hook       string    `json:"hook"`
	Point      string    `json:"point"`
	Target     string    `json:"target,omitempty"`
	Outcome    string    `json:"outcome"`
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"duration_ms,omitempty"`
	At         time.Time `json:"at"`
}

// AuditCheckpoint is a signed statement of the chain's head (offline
// `dayops audit checkpoint`).
type AuditCheckpoint struct {
	Position int64     `json:"position"`
	Hash     string    `json:"hash"`
	KeyID    string    `json:"keyId"`
	SignedAt time.Time `json:"signedAt"`
}
