// Package model is the event store's data model, free of any database: the
// events (EventData to append, Event as read, Metadata), deterministic event
// IDs (StepEventID, NameEventID), stream names and categories,
// ExpectedVersion, the input errors, payload canonicalization
// (CanonicalPayload), upcasters, and the hash of an event in the chain
// (EventHash). Package eventstore stores and reads them and re-exports these
// names, so its callers use them as eventstore.X.
//
// # Payloads and metadata
//
// A payload must be a JSON object of at most DefaultMaxPayloadBytes (or the
// store's limit), in valid UTF-8. It is stored in canonical form (see
// CanonicalPayload: the object as given, insignificant white space removed),
// so verification hashes exactly the stored bytes. Metadata: actor
// (required), reason, correlation ID (the operation), causation ID, cluster;
// event type and schema version (>= 1) are stored too. Bad input is an
// *InvalidEventError wrapping one of ErrPayloadNotObject,
// ErrPayloadTooLarge, ErrEmptyType, ErrEmptyActor, ErrUnknownCategory, ...
// Upcasters registered per (type, from version) are applied on read; stored
// rows are never rewritten.
//
// # Hash chain
//
// Each event stores prev_hash (the previous event's hash; GenesisPrevHash
// for position 1) and hash = EventHash(...), SHA-256 over a length-prefixed
// encoding of position, prev_hash, ID, stream, version, type, schema
// version, canonical payload, every metadata field and recorded time in UTC
// Unix microseconds.
package model
