package slotmigrate

import "testing"

func TestAtomicSwitch(t *testing.T) {
	info := []any{"cluster|x", int64(-2), []any{}}
	tests := map[string]struct {
		reply []any
		want  AtomicMigration
	}{
		"redis 7.0: neither": {reply: []any{nil, nil}, want: AtomicNone},
		"redis 8.4":          {reply: []any{info, nil}, want: AtomicRedis},
		"valkey 9":           {reply: []any{nil, info}, want: AtomicValkey},
		"empty entries":      {reply: []any{[]any{}, []any{}}, want: AtomicNone},
		"short reply":        {reply: nil, want: AtomicNone},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := atomicFromCommandInfo(tc.reply); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	picks := map[string]struct {
		kinds []AtomicMigration
		want  AtomicMigration
	}{
		"all redis":  {[]AtomicMigration{AtomicRedis, AtomicRedis}, AtomicRedis},
		"mixed":      {[]AtomicMigration{AtomicRedis, AtomicNone}, AtomicNone},
		"two kinds":  {[]AtomicMigration{AtomicRedis, AtomicValkey}, AtomicNone},
		"all valkey": {[]AtomicMigration{AtomicValkey}, AtomicValkey},
		"no primary": {nil, AtomicNone},
	}
	for name, tc := range picks {
		t.Run(name, func(t *testing.T) {
			if got := pickAtomic(tc.kinds); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFailedState(t *testing.T) {
	tests := map[string]struct {
		reply any
		want  string
	}{
		"running": {[]any{[]any{"id", "1", "state", "running"}}, ""},
		"failed":  {[]any{[]any{"id", "1", "state", "completed"}, []any{"id", "2", "state", "failed"}}, "failed"},
		"map":     {[]any{map[any]any{"state": "canceled"}}, "canceled"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := failedState(tc.reply); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
