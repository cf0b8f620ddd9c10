package model

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Sentinels for bad input. They come wrapped in *InvalidEventError, which
// says which event of the batch was refused; test with errors.Is.
var (
	ErrPayloadNotObject     = errors.New("payload is not a JSON object")
	ErrPayloadTooLarge      = errors.New("payload over the size limit")
	ErrEmptyType            = errors.New("empty event type")
	ErrEmptyActor           = errors.New("empty actor")
	ErrBadMetadata          = errors.New("bad metadata")
	ErrUnknownCategory      = errors.New("unknown stream category")
	ErrEmptyStreamID        = errors.New("empty stream id")
	ErrMissingEventID       = errors.New("missing event id")
	ErrBadSchemaVersion     = errors.New("schema version must be at least 1")
	ErrDuplicateInBatch     = errors.New("event id repeated in one append")
	ErrNoEvents             = errors.New("no events to append")
	ErrWrongExpectedVersion = errors.New("wrong expected version")
	ErrEventIDConflict      = errors.New("event id already stored elsewhere")
)

// InvalidEventError is bad input: nothing of the append was written.
type InvalidEventError struct {
	Index   int // index of the event in the batch, -1 when about the append itself
	EventID uuid.UUID
	Err     error
}

func (e *InvalidEventError) Error() string {
	if e.Index < 0 {
		return "invalid append: " + e.Err.Error()
	}
	return fmt.Sprintf("invalid event %d (%s): %v", e.Index, e.EventID, e.Err)
}

func (e *InvalidEventError) Unwrap() error { return e.Err }

// WrongExpectedVersionError is an optimistic-concurrency conflict: the stream
// was not at the version the caller expected. Nothing was written.
type WrongExpectedVersionError struct {
	Stream   string
	Expected ExpectedVersion
	Actual   int64
}

func (e *WrongExpectedVersionError) Error() string {
	return fmt.Sprintf("stream %s: expected version %s, actual version %d", e.Stream, e.Expected, e.Actual)
}

func (e *WrongExpectedVersionError) Is(target error) bool { return target == ErrWrongExpectedVersion }

// EventIDConflictError is returned when an append repeats some, but not all,
// already stored event IDs, or repeats them on another stream: that is not a
// retry of the same append but a caller bug (IDs derived from the wrong
// inputs). Nothing was written.
type EventIDConflictError struct {
	Stream  string
	EventID uuid.UUID
	Detail  string
}

func (e *EventIDConflictError) Error() string {
	return fmt.Sprintf("stream %s: event %s: %s", e.Stream, e.EventID, e.Detail)
}

func (e *EventIDConflictError) Is(target error) bool { return target == ErrEventIDConflict }
