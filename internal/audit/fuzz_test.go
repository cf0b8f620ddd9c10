package audit_test

import (
	"errors"
	"testing"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/audit/projection"
	"github.com/dayops/dayops/internal/eventstore"
)

// FuzzDecodeWithUpcasters: any stored (type, version, payload) either
// decodes, after the vocabulary's upcasters, into a payload of that type, or
// fails with a typed error; never a panic. Seeds run in plain `go test`.
func FuzzDecodeWithUpcasters(f *testing.F) {
	for _, s := range []struct {
		typ  string
		ver  int
		body string
	}{
		{audit.TypeRoleChanged, 1, `{"cluster":"c","ordinal":1,"role":"master","previous_role":"slave"}`},
		{audit.TypeRoleChanged, 1, `{"cluster":"c","ordinal":1,"role":"leader"}`},
		{audit.TypeRoleChanged, 1, `{"role":7}`},
		{audit.TypeRoleChanged, 2, `{"cluster":"c","ordinal":1,"role":"primary"}`},
		{audit.TypeRoleChanged, 3, `{}`},
		{audit.TypeSlotsMigrated, 1, `{"cluster":"c","from_shard":0,"to_shard":1,"slots":[{"start":0,"end":9}]}`},
		{audit.TypeSlotsMigrated, 1, `{"slots":"nope"}`},
		{audit.TypeInstanceCreated, 1, `{"ordinal":1e400}`},
		{"SomethingNew", 1, `{}`},
		{audit.TypeHookRan, 1, `[]`},
	} {
		f.Add(s.typ, s.ver, []byte(s.body))
	}
	ups := audit.Upcasters()
	f.Fuzz(func(t *testing.T, typ string, ver int, body []byte) {
		p, err := eventstore.CanonicalPayload(body, 0)
		if err != nil {
			return
		}
		up, v, err := ups.Upcast(typ, ver, p, 0)
		if err != nil {
			return
		}
		pl, err := audit.Decode(typ, v, up)
		if err != nil {
			if !errors.Is(err, audit.ErrUnknownEventType) && !errors.Is(err, audit.ErrSchemaVersion) && !errors.Is(err, audit.ErrBadPayload) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if pl.EventType() != typ {
			t.Fatalf("decoded %s as %s", typ, pl.EventType())
		}
		if rc, ok := pl.(*audit.RoleChanged); ok && ver == 1 {
			if rc.Role != "" && rc.Role != audit.RolePrimary && rc.Role != audit.RoleReplica {
				t.Fatalf("v1 role %q not mapped", rc.Role)
			}
		}
		// Folding it must not panic either.
		proj := projection.NewProjection()
		proj.ApplyPayload(eventstore.Event{Position: 1, Type: typ}, pl)
	})
}
