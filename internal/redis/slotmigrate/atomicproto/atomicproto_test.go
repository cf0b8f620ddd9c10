package atomicproto

import "testing"

func TestAtomicSwitch(t *testing.T) {
	info := []any{"cluster|x", int64(-2), []any{}}
	tests := map[string]struct {
		reply []any
		want  Kind
	}{
		"redis 7.0: neither": {reply: []any{nil, nil}, want: None},
		"redis 8.4":          {reply: []any{info, nil}, want: Redis},
		"valkey 9":           {reply: []any{nil, info}, want: Valkey},
		"empty entries":      {reply: []any{[]any{}, []any{}}, want: None},
		"short reply":        {reply: nil, want: None},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := FromCommandInfo(tc.reply); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	picks := map[string]struct {
		kinds []Kind
		want  Kind
	}{
		"all redis":  {[]Kind{Redis, Redis}, Redis},
		"mixed":      {[]Kind{Redis, None}, None},
		"two kinds":  {[]Kind{Redis, Valkey}, None},
		"all valkey": {[]Kind{Valkey}, Valkey},
		"no primary": {nil, None},
	}
	for name, tc := range picks {
		t.Run(name, func(t *testing.T) {
			if got := Pick(tc.kinds); got != tc.want {
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
			if got := FailedState(tc.reply); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
