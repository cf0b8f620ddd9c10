package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoServerDependencies keeps the CLI a plain REST client: it shares wire
// types with the API through package apiv1 only, so it must not link the
// Temporal SDK, client-go or pgx (the offline audit mode lives in
// internal/cli/auditdb, wired by cmd/dayops).
func TestNoServerDependencies(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{"go.temporal.io/sdk", "k8s.io/client-go", "github.com/jackc/pgx"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if pkg == f || strings.HasPrefix(pkg, f+"/") {
				t.Errorf("internal/cli depends on %s (via %s)", f, pkg)
			}
		}
	}
}
