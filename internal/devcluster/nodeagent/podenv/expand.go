package podenv

import "strings"

// Expand replaces $(NAME) references in s the way the kubelet does for a
// container's command, args and env values: a reference to a defined name is
// replaced by its value, a reference to an undefined name is left as written,
// and $$ escapes a dollar sign (so $$(NAME) yields the literal $(NAME)).
func Expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch next := s[i+1]; next {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// Unterminated reference: keep it verbatim.
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// Lookup returns a lookup function over an ordered environment.
func Lookup(env []Var) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if env[i].Name == name {
				return env[i].Value, true
			}
		}
		return "", false
	}
}

// Var is one resolved environment variable of a container process.
type Var struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Set sets name in env, replacing an earlier definition in place so
// that the order of first definition is kept.
func Set(env []Var, name, value string) []Var {
	for i := range env {
		if env[i].Name == name {
			env[i].Value = value
			return env
		}
	}
	return append(env, Var{Name: name, Value: value})
}

// Environ renders env as KEY=VALUE strings for exec.
func Environ(env []Var) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}
