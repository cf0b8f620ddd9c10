// Package atomicproto reads the replies of the server-side atomic slot
// migration commands (Redis 8.4 CLUSTER MIGRATION, Valkey 9 CLUSTER
// MIGRATESLOTS) for internal/redis/slotmigrate: which one a node offers,
// which one a whole cluster offers, and whether a task failed. Pure
// functions, no connection.
package atomicproto

import (
	"slices"
	"strings"
)

// Kind names a server-side atomic slot migration command.
type Kind string

const (
	// None: only the legacy SETSLOT/MIGRATE path is available.
	None Kind = ""
	// Redis is Redis 8.4's CLUSTER MIGRATION IMPORT, run on the target.
	Redis Kind = "redis-cluster-migration"
	// Valkey is Valkey 9's CLUSTER MIGRATESLOTS, run on the source.
	Valkey Kind = "valkey-migrateslots"
)

// FromCommandInfo reads the reply of
// COMMAND INFO cluster|migration cluster|migrateslots: one entry per name,
// nil for an unknown command.
func FromCommandInfo(reply []any) Kind {
	known := func(i int) bool {
		if i >= len(reply) || reply[i] == nil {
			return false
		}
		if s, ok := reply[i].([]any); ok && len(s) == 0 {
			return false
		}
		return true
	}
	switch {
	case known(0):
		return Redis
	case known(1):
		return Valkey
	}
	return None
}

// Pick returns the atomic method every node offers, or None
// when any node lacks it or nodes differ (a mixed cluster mid-upgrade).
func Pick(kinds []Kind) Kind {
	if len(kinds) == 0 {
		return None
	}
	for _, k := range kinds[1:] {
		if k != kinds[0] {
			return None
		}
	}
	return kinds[0]
}

// FailedState walks a status reply (arrays of field/value pairs or maps) and
// returns the first state value that says the task failed.
func FailedState(reply any) string {
	switch r := reply.(type) {
	case []any:
		for i := 0; i+1 < len(r); i++ {
			if k, ok := r[i].(string); ok && (k == "state" || k == "status") {
				if v, ok := r[i+1].(string); ok && isFailedState(v) {
					return v
				}
			}
		}
		for _, x := range r {
			if s := FailedState(x); s != "" {
				return s
			}
		}
	case map[any]any:
		for k, v := range r {
			if ks, ok := k.(string); ok && (ks == "state" || ks == "status") {
				if vs, ok := v.(string); ok && isFailedState(vs) {
					return vs
				}
			}
			if s := FailedState(v); s != "" {
				return s
			}
		}
	}
	return ""
}

func isFailedState(v string) bool {
	v = strings.ToLower(v)
	return slices.Contains([]string{"failed", "canceled", "cancelled"}, v)
}
