package spec

import (
	"context"
	"slices"
	"testing"
)

// refs is spec.References over a fixed set of Secrets in namespace "ns".
type refs map[string]SecretInfo

func (r refs) NamespaceExists(_ context.Context, name string) (bool, error) { return name == "ns", nil }

func (r refs) Secret(_ context.Context, _, name string) (SecretInfo, bool, error) {
	s, ok := r[name]
	return s, ok, nil
}

func TestCheckReferencesSecretOptIn(t *testing.T) {
	r := refs{
		"opted-in":     {Keys: []string{"password"}, Labels: map[string]string{LabelPasswordSecret: "true"}},
		"dayops-made":  {Keys: []string{"password"}, Labels: map[string]string{"app.kubernetes.io/managed-by": "dayops"}},
		"not-opted-in": {Keys: []string{"password"}, Labels: map[string]string{"app": "db"}},
		"label-false":  {Keys: []string{"password"}, Labels: map[string]string{LabelPasswordSecret: "false"}},
		"no-key":       {Keys: []string{"token"}, Labels: map[string]string{LabelPasswordSecret: "true"}},
	}
	tests := map[string]struct {
		namespace, secret string
		want              string // the field named, "" for none
	}{
		"no secret":               {"ns", "", ""},
		"opted in":                {"ns", "opted-in", ""},
		"created by dayops":       {"ns", "dayops-made", ""},
		"not opted in":            {"ns", "not-opted-in", "passwordSecret"},
		"label not true":          {"ns", "label-false", "passwordSecret"},
		"opted in but no key":     {"ns", "no-key", "passwordSecret"},
		"missing":                 {"ns", "nope", "passwordSecret"},
		"namespace missing first": {"other", "opted-in", "namespace"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			errs, err := CheckReferences(t.Context(), r, Cluster{Namespace: tc.namespace, PasswordSecret: tc.secret})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
			}
			if tc.want == "" && len(got) > 0 || tc.want != "" && !slices.Equal(got, []string{tc.want}) {
				t.Fatalf("fields = %v, want %q (%v)", got, tc.want, errs)
			}
		})
	}
}
