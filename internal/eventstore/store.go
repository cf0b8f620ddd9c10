package eventstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// appendLockKey is the transaction-scoped advisory lock that serializes
// appends: it is what makes positions gap-free and in commit order.
const appendLockKey int64 = 0x6461796f70730002

var eventColumns = []string{"position", "event_id", "stream", "stream_version", "event_type", "schema_version", "payload",
	"actor", "reason", "correlation_id", "causation_id", "cluster", "recorded_at", "prev_hash", "hash"}

// NotifyChannel is the LISTEN/NOTIFY channel an append notifies on commit;
// the payload is the new head position. Subscribers use it only to wake up.
const NotifyChannel = "dayops_events"

// Defaults of Options.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = 5 * time.Minute
)

// Options configure a Store. The zero value is valid: 1 MiB payloads, no
// upcasters, no signed checkpoints, slog.Default().
type Options struct {
	// MaxPayloadBytes limits a payload's size; <= 0 means DefaultMaxPayloadBytes.
	MaxPayloadBytes int
	// Upcasters are applied to payloads on read.
	Upcasters *Upcasters
	// Signer, when set, signs the head of the chain into the checkpoints
	// table inside an append once CheckpointEvery events or
	// CheckpointInterval have passed since the last checkpoint.
	Signer             *Signer
	CheckpointEvery    int64
	CheckpointInterval time.Duration
	Logger             *slog.Logger
}

// Store is the event store. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger
	gc   *groupCommitter
}

// Open applies the embedded migrations (under an advisory lock) and returns
// a Store on pool. The caller owns pool and closes it after the Store's last
// use. It fails with *SchemaTooNewError when the database is newer.
func Open(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	if opts.MaxPayloadBytes <= 0 {
		opts.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = DefaultCheckpointEvery
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := migrateSelf(ctx, pool); err != nil {
		return nil, err
	}
	return &Store{pool: pool, opts: opts, log: opts.Logger, gc: &groupCommitter{}}, nil
}

// Pool returns the pool the store uses (projections write to it).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Upcasters returns the registry used on read (may be nil).
func (s *Store) Upcasters() *Upcasters { return s.opts.Upcasters }

// AppendResult says where the events of an append are.
type AppendResult struct {
	// Positions holds the global position of each event, in order.
	Positions []int64
	// Version is the stream version of the last event of the append.
	Version int64
	// Duplicate is true when every event ID was already stored: nothing was
	// written and Positions are those of the original append.
	Duplicate bool
}

type preparedEvent struct {
	data    EventData
	payload []byte
	md      Metadata
}

func (s *Store) prepare(stream StreamName, events []EventData) ([]preparedEvent, error) {
	if err := stream.Validate(); err != nil {
		return nil, &InvalidEventError{Index: -1, Err: err}
	}
	if len(events) == 0 {
		return nil, &InvalidEventError{Index: -1, Err: ErrNoEvents}
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	out := make([]preparedEvent, len(events))
	for i, e := range events {
		bad := func(err error) error { return &InvalidEventError{Index: i, EventID: e.ID, Err: err} }
		if e.ID == uuid.Nil {
			return nil, bad(ErrMissingEventID)
		}
		if _, dup := seen[e.ID]; dup {
			return nil, bad(ErrDuplicateInBatch)
		}
		seen[e.ID] = struct{}{}
		if e.Type == "" {
			return nil, bad(ErrEmptyType)
		}
		if e.SchemaVersion < 1 {
			return nil, bad(ErrBadSchemaVersion)
		}
		if e.Metadata.Actor == "" {
			return nil, bad(ErrEmptyActor)
		}
		if err := checkText(e.Type, e.Metadata); err != nil {
			return nil, bad(err)
		}
		p, err := CanonicalPayload(e.Payload, s.opts.MaxPayloadBytes)
		if err != nil {
			return nil, bad(err)
		}
		md := e.Metadata
		if stream.Category == CategoryCluster {
			if md.Cluster != "" && md.Cluster != stream.ID {
				return nil, bad(fmt.Errorf("%w: metadata cluster %q on stream %s", ErrBadMetadata, md.Cluster, stream))
			}
			md.Cluster = stream.ID
		}
		out[i] = preparedEvent{data: e, payload: p, md: md}
	}
	return out, nil
}

// MaxMetadataBytes bounds the text fields of one event (type and metadata).
const MaxMetadataBytes = 64 << 10

// checkText refuses text PostgreSQL would refuse (invalid UTF-8, NUL) and
// oversized metadata, so that one bad event can never fail the COPY of a
// group commit shared with other callers.
func checkText(eventType string, md Metadata) error {
	n := 0
	for _, f := range []struct{ name, v string }{{"type", eventType}, {"actor", md.Actor}, {"reason", md.Reason},
		{"correlation_id", md.CorrelationID}, {"causation_id", md.CausationID}, {"cluster", md.Cluster}} {
		if !utf8.ValidString(f.v) || strings.ContainsRune(f.v, 0) {
			return fmt.Errorf("%w: %s is not valid UTF-8 text without NUL", ErrBadMetadata, f.name)
		}
		n += len(f.v)
	}
	if n > MaxMetadataBytes {
		return fmt.Errorf("%w: %d bytes of type and metadata > %d", ErrBadMetadata, n, MaxMetadataBytes)
	}
	return nil
}

// Append writes events to stream atomically if the stream is at the expected
// version. Bad input returns *InvalidEventError and a version conflict
// *WrongExpectedVersionError; in both cases nothing is written. When every
// event ID is already stored on this stream (a retried append) it returns the
// original positions with Duplicate set and writes nothing, whatever the
// expected version; that holds for concurrent duplicates too, because the
// check runs under the append lock (and the unique constraint on event_id
// backs it up).
func (s *Store) Append(ctx context.Context, stream StreamName, expected ExpectedVersion, events ...EventData) (AppendResult, error) {
	prep, err := s.prepare(stream, events)
	if err != nil {
		return AppendResult{}, err
	}
	req := &appendRequest{ctx: ctx, stream: stream.String(), expected: expected, prep: prep,
		done: make(chan struct{}), lead: make(chan struct{})}
	s.gc.submit(s, req)
	if req.err != nil {
		return AppendResult{}, fmt.Errorf("append to %s: %w", stream, req.err)
	}
	return req.res, nil
}

// WithSigner returns a Store sharing s's pool that signs checkpoints with sg.
func (s *Store) WithSigner(sg *Signer) *Store {
	c := *s
	c.opts.Signer = sg
	c.gc = &groupCommitter{}
	return &c
}

// Signer returns Options.Signer (nil when this store does not sign).
func (s *Store) Signer() *Signer { return s.opts.Signer }

// Logger returns the store's logger (Options.Logger).
func (s *Store) Logger() *slog.Logger { return s.log }
