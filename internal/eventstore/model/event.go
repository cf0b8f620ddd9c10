package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// DefaultMaxPayloadBytes is the default limit on a payload's canonical size.
const DefaultMaxPayloadBytes = 1 << 20

// Metadata says who did what, why, and in which context. Actor is required.
type Metadata struct {
	Actor         string `json:"actor"`                    // who: a user, a service account, "dayops-worker"
	Reason        string `json:"reason,omitempty"`         // why: free text given by the requester
	CorrelationID string `json:"correlation_id,omitempty"` // the operation this event belongs to
	CausationID   string `json:"causation_id,omitempty"`   // the event or request that caused this one
	// Cluster is the Redis cluster the event is about. It is set from the
	// stream name for cluster streams; operation streams should set it so
	// that filters and as-of replays by cluster see the operation's events.
	Cluster string `json:"cluster,omitempty"`
}

// EventData is an event to append.
type EventData struct {
	ID            uuid.UUID // derived deterministically by the caller, see StepEventID
	Type          string
	SchemaVersion int
	Payload       json.RawMessage // a JSON object
	Metadata      Metadata
}

// NewEventData marshals payload (a struct or map) into an EventData.
func NewEventData(id uuid.UUID, eventType string, schemaVersion int, payload any, md Metadata) (EventData, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return EventData{}, fmt.Errorf("marshal %s payload: %w", eventType, err)
	}
	return EventData{ID: id, Type: eventType, SchemaVersion: schemaVersion, Payload: b, Metadata: md}, nil
}

// Event is a stored event as read back. Payload and SchemaVersion are after
// upcasting; StoredSchemaVersion is the version that is stored and hashed.
type Event struct {
	Position            int64
	ID                  uuid.UUID
	Stream              string
	Version             int64
	Type                string
	SchemaVersion       int
	StoredSchemaVersion int
	Payload             json.RawMessage
	Metadata            Metadata
	RecordedAt          time.Time
	PrevHash            []byte
	Hash                []byte
}

// stepNamespace is the UUIDv5 namespace of step event IDs.
var stepNamespace = uuid.MustParse("6f1c3f55-8a3e-4f43-9c1e-2b7d0b8f1d6a")

// StepEventID derives the ID of the seq-th event written by one workflow
// step. It depends on the workflow ID, the activity ID and seq only, never on
// the attempt or the run ID, so a retried activity derives the same IDs and
// its events are stored once. The inputs are length-prefixed before hashing
// (UUIDv5, SHA-1 name-based), so ("a-b","c") and ("a","b-c") differ.
func StepEventID(workflowID, activityID string, seq int) uuid.UUID {
	var b bytes.Buffer
	writeString(&b, workflowID)
	writeString(&b, activityID)
	writeString(&b, strconv.Itoa(seq))
	return uuid.NewSHA1(stepNamespace, b.Bytes())
}

// NameEventID derives an event ID from any list of names (for events not
// written by an activity, for example an API request ID).
func NameEventID(parts ...string) uuid.UUID {
	var b bytes.Buffer
	for _, p := range parts {
		writeString(&b, p)
	}
	return uuid.NewSHA1(stepNamespace, b.Bytes())
}

// CanonicalPayload checks that data is one JSON object in valid UTF-8 and
// returns its canonical form: the object exactly as given, with
// insignificant white space removed (encoding/json.Compact; key order,
// number spelling and string escapes are kept as written). The canonical
// form is what is stored (PostgreSQL's json type keeps text verbatim) and
// hashed, so verification hashes the stored bytes without re-encoding.
// limit <= 0 means DefaultMaxPayloadBytes; the input must be within it.
func CanonicalPayload(data []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxPayloadBytes
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrPayloadTooLarge, len(data), limit)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrPayloadNotObject)
	}
	var out bytes.Buffer
	out.Grow(len(data))
	if err := json.Compact(&out, data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPayloadNotObject, err)
	}
	b := out.Bytes()
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: got %s", ErrPayloadNotObject, jsonKind(b))
	}
	return b, nil
}

func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case 'n':
		return "null"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// hashDomain separates this hash from any other use of SHA-256.
const hashDomain = "dayops.eventstore.event.v1"

// HashInput is everything the hash of an event covers.
type HashInput struct {
	Position      int64
	PrevHash      []byte // 32 zero bytes for position 1
	ID            uuid.UUID
	Stream        string
	Version       int64
	Type          string
	SchemaVersion int
	Payload       []byte // canonical JSON exactly as stored
	Metadata      Metadata
	RecordedAt    time.Time // truncated to microseconds, hashed as UTC Unix microseconds
}

// GenesisPrevHash is the previous hash of the event at position 1.
var GenesisPrevHash = make([]byte, 32)

// EventHash is SHA-256 over the canonical encoding of in:
//
//	lp("dayops.eventstore.event.v1")
//	u64(position) lp(prev_hash) lp(event_id[16]) lp(stream) u64(version)
//	lp(type) u64(schema_version) lp(payload) lp(actor) lp(reason)
//	lp(correlation_id) lp(causation_id) lp(cluster) u64(recorded_at_unix_micros)
//
// where u64 is 8 bytes big-endian (two's complement for signed values) and
// lp(x) is u64(len(x)) followed by the bytes of x. Every field has a fixed
// width or a length prefix, so no two different inputs encode alike.
func EventHash(in HashInput) []byte {
	h := newHasher()
	h.str(hashDomain)
	h.u64(uint64(in.Position))
	h.bytes(in.PrevHash)
	h.bytes(in.ID[:])
	h.str(in.Stream)
	h.u64(uint64(in.Version))
	h.str(in.Type)
	h.u64(uint64(in.SchemaVersion))
	h.bytes(in.Payload)
	h.str(in.Metadata.Actor)
	h.str(in.Metadata.Reason)
	h.str(in.Metadata.CorrelationID)
	h.str(in.Metadata.CausationID)
	h.str(in.Metadata.Cluster)
	h.u64(uint64(in.RecordedAt.UTC().UnixMicro()))
	return h.sum()
}

func writeString(b *bytes.Buffer, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	b.Write(n[:])
	b.WriteString(s)
}
