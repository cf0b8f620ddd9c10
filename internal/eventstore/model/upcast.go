package model

import (
	"encoding/json"
	"fmt"
	"sync"
)

// Upcaster turns the payload of one schema version of an event type into the
// payload of the next version. It must be a pure function of its input.
type Upcaster func(payload json.RawMessage) (json.RawMessage, error)

type upcastKey struct {
	eventType string
	from      int
}

// Upcasters holds the upcasters registered per (event type, from version).
// Reads apply them in a chain (v1 -> v2 -> v3 ...) until no upcaster is
// registered for the payload's version. Stored rows are never rewritten:
// the hash chain covers the stored version.
type Upcasters struct {
	mu sync.RWMutex
	m  map[upcastKey]Upcaster
}

// NewUpcasters returns an empty registry.
func NewUpcasters() *Upcasters { return &Upcasters{m: map[upcastKey]Upcaster{}} }

// Register adds the upcaster from version from to version from+1 of eventType.
// Registering the same (type, from) twice panics: it is a programming error.
func (u *Upcasters) Register(eventType string, from int, fn Upcaster) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := upcastKey{eventType, from}
	if _, dup := u.m[k]; dup {
		panic(fmt.Sprintf("eventstore: upcaster for %s v%d registered twice", eventType, from))
	}
	u.m[k] = fn
}

// maxUpcastSteps bounds a chain, so a registry cannot loop forever.
const maxUpcastSteps = 64

// Upcast applies the chain of upcasters to payload of the given version and
// returns the upcast payload and its version. Every intermediate result must
// be a JSON object within limit (see CanonicalPayload) and is canonicalized.
// A nil registry returns the payload unchanged.
func (u *Upcasters) Upcast(eventType string, version int, payload json.RawMessage, limit int) (json.RawMessage, int, error) {
	if u == nil {
		return payload, version, nil
	}
	for range maxUpcastSteps {
		u.mu.RLock()
		fn, ok := u.m[upcastKey{eventType, version}]
		u.mu.RUnlock()
		if !ok {
			return payload, version, nil
		}
		out, err := fn(payload)
		if err != nil {
			return nil, version, fmt.Errorf("upcast %s v%d: %w", eventType, version, err)
		}
		canon, err := CanonicalPayload(out, limit)
		if err != nil {
			return nil, version, fmt.Errorf("upcast %s v%d produced a bad payload: %w", eventType, version, err)
		}
		payload, version = canon, version+1
	}
	return nil, version, fmt.Errorf("upcast %s: more than %d steps", eventType, maxUpcastSteps)
}
