package podenv

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpand(t *testing.T) {
	env := []Var{{Name: "POD_IP", Value: "10.244.1.2"}, {Name: "EMPTY", Value: ""}, {Name: "A", Value: "x"}}
	tests := map[string]struct{ in, want string }{
		"plain":             {"redis-server", "redis-server"},
		"defined":           {"--bind $(POD_IP)", "--bind 10.244.1.2"},
		"undefined kept":    {"$(NOPE)-$(A)", "$(NOPE)-x"},
		"escaped reference": {"$$(POD_IP)", "$(POD_IP)"},
		"escaped dollar":    {"a$$b", "a$b"},
		"lone dollar":       {"cost $5", "cost $5"},
		"trailing dollar":   {"x$", "x$"},
		"unterminated":      {"$(POD_IP", "$(POD_IP"},
		"empty value":       {"[$(EMPTY)]", "[]"},
		"adjacent":          {"$(A)$(A)", "xx"},
		"shell var kept":    {"${A} $A", "${A} $A"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Expand(tc.in, Lookup(env))); diff != "" {
				t.Errorf("Expand(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}
