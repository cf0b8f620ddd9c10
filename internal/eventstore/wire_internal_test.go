package eventstore

import (
	"fmt"
	"testing"

	"github.com/dayops/dayops/internal/eventstore/wire"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/google/go-cmp/cmp"
)

// The wire decoder is used for every layout and reads exactly what the
// generic scan reads.
func TestWireDecoderMatchesScan(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, pgtest.Pool(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		e := EventData{ID: NameEventID("wire", fmt.Sprint(i)), Type: "T", SchemaVersion: 1 + i%2,
			Payload:  []byte(fmt.Sprintf(`{"i":%d,"s":"é\\u0000"}`, i)),
			Metadata: Metadata{Actor: "a", Reason: fmt.Sprint("r", i%3), CorrelationID: "op", CausationID: fmt.Sprint(i)}}
		if _, err := s.Append(ctx, ClusterStream(fmt.Sprint("c", i%4)), Any(), e); err != nil {
			t.Fatal(err)
		}
	}
	for name, f := range map[string]Filter{"lean": {Lean: true}, "full": {}, "hashes": {WithHashes: true}} {
		t.Run(name, func(t *testing.T) {
			q, args := f.sql()
			read := func(wireOK bool) []Event {
				rows, err := s.pool.Query(ctx, q, args...)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				dec := wire.NewDecoder(f.Lean, f.WithHashes, rows.FieldDescriptions())
				if wireOK && dec == nil {
					t.Fatal("wire decoder not used")
				}
				var out []Event
				for rows.Next() {
					var e Event
					var err error
					if wireOK {
						e, err = dec.Decode(rows.RawValues())
					} else {
						e, err = s.scanEvent(rows, f)
					}
					if err != nil {
						t.Fatal(err)
					}
					e.RecordedAt = e.RecordedAt.UTC()
					out = append(out, e)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return out
			}
			want, got := read(false), read(true)
			if len(want) != 20 {
				t.Fatalf("%d events", len(want))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("wire decoder (-scan +wire):\n%s", diff)
			}
		})
	}
}
