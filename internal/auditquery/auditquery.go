// Package auditquery answers the audit reads (events, chain verification,
// state as of an instant) in API wire types, over the event store and the
// audit projections. The REST API serves it to auditors, who then need no
// database password, and the CLI's offline mode runs the same code against
// the database directly, so both modes answer alike.
package auditquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/audit/projection"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/google/uuid"
)

// ErrInvalid marks a request the caller must fix (a bad key, a bad bound).
var ErrInvalid = errors.New("invalid audit request")

// ErrClusterNotFound is projection.ErrClusterNotFound: the log names no such cluster.
var ErrClusterNotFound = projection.ErrClusterNotFound

// Service reads the audit log.
type Service struct {
	Store *eventstore.Store
}

// Events returns one page of events matching q.
func (s Service) Events(ctx context.Context, q apiv1.AuditEventQuery) (apiv1.EventPage, error) {
	if q.Limit <= 0 || q.Limit > apiv1.AuditPageMax {
		return apiv1.EventPage{}, fmt.Errorf("%w: limit %d: want 1..%d", ErrInvalid, q.Limit, apiv1.AuditPageMax)
	}
	f := eventstore.Filter{Cluster: q.Cluster, Operation: q.Operation, Types: q.Types, Since: q.Since, Until: q.Until,
		After: q.After, Before: q.Before, Limit: q.Limit, Backward: q.Reverse, WithHashes: q.Hashes}
	events, err := s.Store.Query(ctx, f)
	if err != nil {
		return apiv1.EventPage{}, fmt.Errorf("read the audit log: %w", err)
	}
	page := apiv1.EventPage{Events: make([]apiv1.Event, 0, len(events))}
	for _, e := range events {
		page.Events = append(page.Events, WireEvent(e))
	}
	if len(events) == q.Limit {
		page.Next = events[len(events)-1].Position
	}
	return page, nil
}

// WireEvent is an event as the API shows it.
func WireEvent(e eventstore.Event) apiv1.Event {
	var payload any
	_ = json.Unmarshal(e.Payload, &payload)
	w := apiv1.Event{Position: e.Position, ID: e.ID.String(), Stream: e.Stream, Type: e.Type,
		SchemaVersion: e.SchemaVersion, Payload: payload, Actor: e.Metadata.Actor, Reason: e.Metadata.Reason,
		CorrelationID: e.Metadata.CorrelationID, CausationID: e.Metadata.CausationID, RecordedAt: e.RecordedAt,
		Version: e.Version, Cluster: e.Metadata.Cluster}
	if len(e.Hash) > 0 {
		w.Hash = fmt.Sprintf("%x", e.Hash)
	}
	return w
}

// Verify recomputes the hash chain and checks the checkpoints against the
// given public keys and the checkpoint copies the caller read from outside
// the database. As eventstore.VerifyOptions, a log without any checkpoint
// fails unless req.AllowNoCheckpoint. A broken chain is a report with Intact
// false, not an error; errors are bad requests (ErrInvalid) or an unreadable
// store.
func (s Service) Verify(ctx context.Context, req apiv1.AuditVerifyRequest) (apiv1.AuditVerifyReport, error) {
	var rep apiv1.AuditVerifyReport
	opts := eventstore.VerifyOptions{AllowNoCheckpoint: req.AllowNoCheckpoint}
	if req.MaxCheckpointAge != "" {
		d, err := time.ParseDuration(req.MaxCheckpointAge)
		if err != nil || d < 0 {
			return rep, fmt.Errorf("%w: maxCheckpointAge %q: want a duration >= 0 like 15m", ErrInvalid, req.MaxCheckpointAge)
		}
		opts.MaxCheckpointAge = d
	}
	for _, c := range req.CheckpointCopies {
		opts.External = append(opts.External, eventstore.Checkpoint{Seq: c.Seq, Position: c.Position, Hash: c.Hash,
			SignedAt: c.SignedAt, KeyID: c.KeyID, Signature: c.Signature, Format: c.Format})
	}
	for i, raw := range req.PublicKeys {
		k, err := eventstore.ParsePublicKey([]byte(raw))
		if err != nil {
			return rep, fmt.Errorf("%w: public key %d: %w", ErrInvalid, i, err)
		}
		opts.PublicKeys = append(opts.PublicKeys, k)
		rep.KeyIDs = append(rep.KeyIDs, eventstore.KeyID(k))
	}
	start := time.Now()
	r, err := s.Store.Verify(ctx, opts)
	rep.Seconds = time.Since(start).Seconds()
	var ce *eventstore.ChainError
	switch {
	case errors.As(err, &ce):
		rep.Problem, rep.Position, rep.Error = string(ce.Problem), ce.Position, ce.Error()
		if ce.EventID != uuid.Nil {
			rep.EventID = ce.EventID.String()
		}
		return rep, nil
	case err != nil:
		return rep, fmt.Errorf("verify the audit log: %w", err)
	}
	rep.Intact = true
	rep.Events, rep.HeadPosition, rep.HeadHash = r.Events, r.HeadPosition, r.HeadHash
	rep.Checkpoints, rep.SignaturesChecked, rep.LastSignedCheckpoint = r.Checkpoints, r.SignaturesChecked, r.LastSignedCheckpoint
	rep.NewestCheckpoint, rep.NewestCheckpointSignedAt = r.NewestCheckpoint.Seq, r.NewestCheckpoint.SignedAt
	rep.CheckpointCopiesChecked = r.ExternalChecked
	return rep, nil
}

// State replays the events about cluster (an audit cluster key) up to asOf:
// a position, an RFC 3339 time, a duration before now, or "" for now.
func (s Service) State(ctx context.Context, cluster, asOf string, now time.Time) (apiv1.AuditState, error) {
	if cluster == "" {
		return apiv1.AuditState{}, fmt.Errorf("%w: a cluster is required", ErrInvalid)
	}
	bound, err := projection.ParseBound(asOf, now)
	if err != nil {
		return apiv1.AuditState{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c, tls, err := projection.ClusterAsOf(ctx, s.Store, cluster, bound)
	if err != nil {
		return apiv1.AuditState{}, err
	}
	// The projection's states are the wire types themselves.
	st := apiv1.AuditState{AsOf: bound.String(), Cluster: c, Operations: tls}
	if st.Operations == nil {
		st.Operations = []*apiv1.AuditTimeline{}
	}
	return st, nil
}
