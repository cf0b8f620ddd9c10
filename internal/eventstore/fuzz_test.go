package eventstore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/dayops/dayops/internal/eventstore"
)

// FuzzCanonicalPayload: the decoder either refuses with a typed error or
// returns a JSON object that is a fixed point (canonicalizing it again
// changes nothing) and fits the limit. Seeds run in plain `go test`.
func FuzzCanonicalPayload(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"b":1,"a":2}`, `{"a":{"z":[1,2,{"y":null}],"x":"<&>"}}`, `[]`, `"s"`, `1`, `null`, `{"a":1}{}`,
		`{"a":1.50e+3,"b":-0}`, `{"a":"\u00e9\ud83d\ude00"}`, `{"a":"\xff"}`, `{"a":1,"a":2}`, ` {"a" : true } `, `{`,
		`{"a":"\u0000"}`,
	} {
		f.Add([]byte(s), 64)
	}
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		limit = limit%4096 + 1
		if limit <= 0 {
			limit += 4096
		}
		got, err := eventstore.CanonicalPayload(data, limit)
		if err != nil {
			if !errors.Is(err, eventstore.ErrPayloadNotObject) && !errors.Is(err, eventstore.ErrPayloadTooLarge) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(got) > limit {
			t.Fatalf("canonical %d bytes > limit %d", len(got), limit)
		}
		var m map[string]any
		if err := json.Unmarshal(got, &m); err != nil || m == nil {
			t.Fatalf("canonical %q is not an object: %v", got, err)
		}
		again, err := eventstore.CanonicalPayload(got, limit)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("not a fixed point: %q -> %q (%v)", got, again, err)
		}
	})
}

// FuzzUpcasterChain: an upcaster chain either fails cleanly or yields a
// canonical object at the last version; it never panics or loops.
func FuzzUpcasterChain(f *testing.F) {
	u := eventstore.NewUpcasters()
	u.Register("Renamed", 1, func(p json.RawMessage) (json.RawMessage, error) {
		var m map[string]any
		if err := json.Unmarshal(p, &m); err != nil {
			return nil, err
		}
		m["new"] = m["old"]
		delete(m, "old")
		return json.Marshal(m)
	})
	u.Register("Renamed", 2, func(p json.RawMessage) (json.RawMessage, error) {
		return append([]byte(`{"wrapped":`), append(p, '}')...), nil
	})
	for _, s := range []string{`{"old":1}`, `{}`, `{"old":{"x":[1]}}`, `[]`, `{"old":"\ud800"}`} {
		f.Add([]byte(s), 1)
	}
	f.Fuzz(func(t *testing.T, data []byte, version int) {
		p, err := eventstore.CanonicalPayload(data, 0)
		if err != nil {
			return
		}
		out, v, err := u.Upcast("Renamed", version, p, 0)
		if err != nil {
			return
		}
		if version == 1 || version == 2 {
			if v != 3 {
				t.Fatalf("from v%d reached v%d, want 3", version, v)
			}
		} else if v != version || !bytes.Equal(out, p) {
			t.Fatalf("no upcaster for v%d, but payload or version changed", version)
		}
		if again, err := eventstore.CanonicalPayload(out, 0); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("upcast result not canonical: %q", out)
		}
	})
}
