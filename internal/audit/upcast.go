package audit

import (
	"encoding/json"
	"fmt"

	"github.com/dayops/dayops/internal/eventstore"
)

// Upcasters returns the registry of the vocabulary's upcasters, to pass as
// eventstore.Options.Upcasters.
func Upcasters() *eventstore.Upcasters {
	u := eventstore.NewUpcasters()
	u.Register(TypeRoleChanged, 1, upcastRoleChangedV1)
	return u
}

// upcastRoleChangedV1 renames the Redis role words of RoleChanged v1
// ("master", "slave"; also the newer "replica" and "primary") to the
// projection's words. Other fields pass through unchanged.
func upcastRoleChangedV1(p json.RawMessage) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		return nil, err
	}
	for _, k := range []string{"role", "previous_role"} {
		v, ok := m[k]
		if !ok {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("RoleChanged v1: %s is %T, want a string", k, v)
		}
		switch s {
		case "master", "primary":
			m[k] = RolePrimary
		case "slave", "replica":
			m[k] = RoleReplica
		default:
			return nil, fmt.Errorf("RoleChanged v1: unknown %s %q", k, s)
		}
	}
	return json.Marshal(m)
}
