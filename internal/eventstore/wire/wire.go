// Package wire decodes the event store's event rows from PostgreSQL's
// binary wire values into model.Event, for package eventstore's scans.
package wire

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/eventstore/model"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Decoder reads event rows straight from the wire values: replays and
// verification read millions of rows, and the generic Scan allocates per
// column. Low-cardinality text (type, actor, reason, stream, ...) is
// interned and payloads and hashes are copied into shared chunks, so a row
// costs few allocations. If a column that must be binary (numbers, UUID,
// timestamp, bytea) is not, NewDecoder returns nil and the generic scan
// is used; text and json values are the same bytes in either format.
type Decoder struct {
	layout []int // column index of each field, -1 when absent
	intern map[string]string
	chunk  []byte
}

// Fields of an event row, in the order of eventstore's base columns +
// prev_hash, hash.
const (
	wPosition = iota
	wID
	wStream
	wVersion
	wType
	wSchema
	wPayload
	wActor
	wReason
	wCorrelation
	wCausation
	wCluster
	wRecorded
	wPrevHash
	wHash
	wFields
)

var (
	// leanLayout maps the fields of eventstore's lean columns.
	leanLayout = layoutOf(wPosition, wType, wSchema, wPayload, wActor, wReason, wRecorded)
	// fullLayout maps the base columns; hashLayout base columns + prev_hash, hash.
	fullLayout = layoutOf(wPosition, wID, wStream, wVersion, wType, wSchema, wPayload, wActor, wReason,
		wCorrelation, wCausation, wCluster, wRecorded)
	hashLayout = layoutOf(wPosition, wID, wStream, wVersion, wType, wSchema, wPayload, wActor, wReason,
		wCorrelation, wCausation, wCluster, wRecorded, wPrevHash, wHash)
	binaryFields = []int{wPosition, wID, wVersion, wSchema, wRecorded, wPrevHash, wHash}
)

func layoutOf(fields ...int) []int {
	l := make([]int, wFields)
	for i := range l {
		l[i] = -1
	}
	for col, f := range fields {
		l[f] = col
	}
	return l
}

const (
	wireChunk     = 256 << 10
	wireInternMax = 4096
)

// postgresEpoch is 2000-01-01T00:00:00Z, the zero of binary timestamps.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// NewDecoder returns a decoder of rows whose columns are those of
// eventstore's lean columns (lean), of its base columns (neither), or of the
// base columns + prev_hash, hash (withHashes); nil when the columns are not
// these in the binary format, or both lean and withHashes are set.
func NewDecoder(lean, withHashes bool, fds []pgconn.FieldDescription) *Decoder {
	layout := fullLayout
	switch {
	case lean && !withHashes:
		layout = leanLayout
	case withHashes && !lean:
		layout = hashLayout
	case lean:
		return nil
	}
	n := 0
	for _, col := range layout {
		if col >= 0 {
			n++
		}
	}
	if len(fds) != n {
		return nil
	}
	for _, fld := range binaryFields {
		if col := layout[fld]; col >= 0 && fds[col].Format != pgx.BinaryFormatCode {
			return nil
		}
	}
	return &Decoder{layout: layout, intern: map[string]string{}}
}

func (d *Decoder) str(b []byte) string {
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.intern) < wireInternMax && len(s) <= 256 {
		d.intern[s] = s
	}
	return s
}

func (d *Decoder) bytes(b []byte) []byte {
	if len(b) > wireChunk/4 {
		return append([]byte(nil), b...)
	}
	if cap(d.chunk)-len(d.chunk) < len(b) {
		d.chunk = make([]byte, 0, wireChunk)
	}
	start := len(d.chunk)
	d.chunk = append(d.chunk, b...)
	return d.chunk[start:len(d.chunk):len(d.chunk)]
}

// Decode decodes one row's raw values.
func (d *Decoder) Decode(v [][]byte) (model.Event, error) {
	var e model.Event
	bad := func(what string) (model.Event, error) {
		return e, fmt.Errorf("read events: unexpected %s value in row %d", what, e.Position)
	}
	col := func(f int) ([]byte, bool) {
		c := d.layout[f]
		if c < 0 || c >= len(v) {
			return nil, false
		}
		return v[c], true
	}
	if b, ok := col(wPosition); ok {
		if len(b) != 8 {
			return bad("position")
		}
		e.Position = int64(binary.BigEndian.Uint64(b))
	}
	if b, ok := col(wID); ok {
		if len(b) != 16 {
			return bad("event_id")
		}
		copy(e.ID[:], b)
	}
	if b, ok := col(wStream); ok {
		e.Stream = d.str(b)
	}
	if b, ok := col(wVersion); ok {
		if len(b) != 8 {
			return bad("stream_version")
		}
		e.Version = int64(binary.BigEndian.Uint64(b))
	}
	if b, ok := col(wType); ok {
		e.Type = d.str(b)
	}
	if b, ok := col(wSchema); ok {
		if len(b) != 4 {
			return bad("schema_version")
		}
		e.SchemaVersion = int(int32(binary.BigEndian.Uint32(b)))
		e.StoredSchemaVersion = e.SchemaVersion
	}
	if b, ok := col(wPayload); ok {
		if b == nil {
			return bad("payload")
		}
		e.Payload = d.bytes(b)
	}
	if b, ok := col(wActor); ok {
		e.Metadata.Actor = d.str(b)
	}
	if b, ok := col(wReason); ok {
		e.Metadata.Reason = d.str(b)
	}
	if b, ok := col(wCorrelation); ok {
		e.Metadata.CorrelationID = d.str(b)
	}
	if b, ok := col(wCausation); ok {
		e.Metadata.CausationID = d.str(b)
	}
	if b, ok := col(wCluster); ok {
		e.Metadata.Cluster = d.str(b)
	}
	if b, ok := col(wRecorded); ok {
		if len(b) != 8 {
			return bad("recorded_at")
		}
		e.RecordedAt = postgresEpoch.Add(time.Duration(int64(binary.BigEndian.Uint64(b))) * time.Microsecond)
	}
	if b, ok := col(wPrevHash); ok {
		e.PrevHash = d.bytes(b)
	}
	if b, ok := col(wHash); ok {
		e.Hash = d.bytes(b)
	}
	return e, nil
}
