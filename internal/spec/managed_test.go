package spec

import (
	"context"
	"strings"
	"testing"
)

// fakeRefs answers References and, with managed set, ManagedNamespaces.
type fakeRefs struct{ managed []string }

func (fakeRefs) NamespaceExists(context.Context, string) (bool, error) { return true, nil }
func (fakeRefs) Secret(context.Context, string, string) (SecretInfo, bool, error) {
	return SecretInfo{}, false, nil
}

type managedRefs struct{ fakeRefs }

func (m managedRefs) NamespaceManaged(name string) ([]string, bool) {
	for _, n := range m.managed {
		if n == name {
			return m.managed, true
		}
	}
	return m.managed, false
}

func TestCheckReferencesManagedNamespaces(t *testing.T) {
	tests := map[string]struct {
		refs    References
		ns      string
		wantErr string
	}{
		"every namespace":     {refs: fakeRefs{}, ns: "redis-x"},
		"a managed namespace": {refs: managedRefs{fakeRefs{managed: []string{"redis-a", "redis-b"}}}, ns: "redis-b"},
		"another namespace": {refs: managedRefs{fakeRefs{managed: []string{"redis-a", "redis-b"}}}, ns: "redis-x",
			wantErr: "namespace: Forbidden: dayops manages only the namespaces redis-a, redis-b (DAYOPS_NAMESPACES)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			errs, err := CheckReferences(t.Context(), tc.refs, Cluster{Name: "c", Namespace: tc.ns})
			if err != nil {
				t.Fatal(err)
			}
			got := errs.ToAggregate()
			switch {
			case tc.wantErr == "" && got != nil:
				t.Errorf("refused: %v", got)
			case tc.wantErr != "" && (got == nil || !strings.Contains(got.Error(), tc.wantErr)):
				t.Errorf("errors = %v, want %q", got, tc.wantErr)
			}
		})
	}
}
