package instance

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dayops/dayops/internal/instance/handoff"
)

// MarkerFile is the fence record in the data directory: the last fenced
// start's observation and decision. The worker (guardian) reads it through
// the Pod and reports it as an audit event; its ID says whether it has been
// reported already.
const MarkerFile = "dayops-fence.json"

// Marker is one fenced start.
type Marker struct {
	// ID is unique per fenced start (start time in nanoseconds and PID).
	ID      string    `json:"id"`
	Started time.Time `json:"started"`
	// Served is when the fence was lifted; ServeAfter is Served-Started.
	Served     time.Time     `json:"served"`
	ServeAfter time.Duration `json:"serveAfterNs"`
	// Decision is the final decision; Decisions every decision taken (a
	// takeover that did not complete is followed by a new look).
	Decision    Decision    `json:"decision"`
	Decisions   []Decision  `json:"decisions,omitempty"`
	Observation Observation `json:"observation"`
	// Role is the node's role when the fence was lifted.
	Role string `json:"role"`
	// Unverified: served after Timeout without reaching any replica.
	Unverified bool `json:"unverified,omitempty"`
	// StepDown: Redis did not make the node the replica of the primary it
	// followed, and the manager tried to (handoff.StepDown).
	StepDown *StepDown `json:"stepDown,omitempty"`
}

// StepDown is what the manager did to make a node follow, and why it
// could not (Error).
type StepDown struct {
	handoff.Result
	Error string `json:"error,omitempty"`
}

// WriteMarker writes m into dir atomically.
func WriteMarker(dir string, m Marker) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, MarkerFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write fence marker: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, MarkerFile)); err != nil {
		return fmt.Errorf("write fence marker: %w", err)
	}
	return nil
}

// ReadMarker reads the marker of dir; ok is false when there is none.
func ReadMarker(dir string) (m Marker, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, MarkerFile))
	if errors.Is(err, os.ErrNotExist) {
		return Marker{}, false, nil
	}
	if err != nil {
		return Marker{}, false, fmt.Errorf("read fence marker: %w", err)
	}
	m, err = DecodeMarker(b)
	return m, err == nil, err
}

// DecodeMarker reads a marker's JSON (as the worker gets it from the Pod,
// e.g. by `cat /data/dayops-fence.json` in the redis container).
func DecodeMarker(b []byte) (Marker, error) {
	var m Marker
	if err := json.Unmarshal(b, &m); err != nil {
		return Marker{}, fmt.Errorf("decode fence marker: %w", err)
	}
	return m, nil
}
