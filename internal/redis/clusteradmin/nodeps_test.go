package clusteradmin

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoTemporalImport keeps this package a library: nothing it links may
// come from the Temporal SDK (activities adapt it; it does not adapt itself).
func TestNoTemporalImport(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "go.temporal.io/") {
			t.Errorf("imports %s", dep)
		}
	}
}
