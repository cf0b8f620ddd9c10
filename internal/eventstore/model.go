package eventstore

import "github.com/dayops/dayops/internal/eventstore/model"

// The data model is package model's; these names keep the store's callers
// as they were.
type (
	Metadata                  = model.Metadata
	EventData                 = model.EventData
	Event                     = model.Event
	HashInput                 = model.HashInput
	Category                  = model.Category
	StreamName                = model.StreamName
	ExpectedVersion           = model.ExpectedVersion
	Upcaster                  = model.Upcaster
	Upcasters                 = model.Upcasters
	InvalidEventError         = model.InvalidEventError
	WrongExpectedVersionError = model.WrongExpectedVersionError
	EventIDConflictError      = model.EventIDConflictError
)

const (
	DefaultMaxPayloadBytes = model.DefaultMaxPayloadBytes
	CategoryCluster        = model.CategoryCluster
	CategoryOperation      = model.CategoryOperation
	CategoryAPI            = model.CategoryAPI
)

var (
	ErrPayloadNotObject     = model.ErrPayloadNotObject
	ErrPayloadTooLarge      = model.ErrPayloadTooLarge
	ErrEmptyType            = model.ErrEmptyType
	ErrEmptyActor           = model.ErrEmptyActor
	ErrBadMetadata          = model.ErrBadMetadata
	ErrUnknownCategory      = model.ErrUnknownCategory
	ErrEmptyStreamID        = model.ErrEmptyStreamID
	ErrMissingEventID       = model.ErrMissingEventID
	ErrBadSchemaVersion     = model.ErrBadSchemaVersion
	ErrDuplicateInBatch     = model.ErrDuplicateInBatch
	ErrNoEvents             = model.ErrNoEvents
	ErrWrongExpectedVersion = model.ErrWrongExpectedVersion
	ErrEventIDConflict      = model.ErrEventIDConflict

	GenesisPrevHash  = model.GenesisPrevHash
	NewEventData     = model.NewEventData
	StepEventID      = model.StepEventID
	NameEventID      = model.NameEventID
	CanonicalPayload = model.CanonicalPayload
	EventHash        = model.EventHash
	ClusterStream    = model.ClusterStream
	OperationStream  = model.OperationStream
	ParseStream      = model.ParseStream
	Any              = model.Any
	NoStream         = model.NoStream
	Exact            = model.Exact
	NewUpcasters     = model.NewUpcasters
)
