package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestProductBinaryLinksNoDevCode guards the split between the product
// binary and cmd/dayops-dev: `go list -deps` of this command (what the
// linker sees; test files excluded) must name no package of the local stack,
// the benchmarks or the test utilities. A failure names the offending
// package; `go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/dayops`
// shows who imports it.
func TestProductBinaryLinksNoDevCode(t *testing.T) {
	const module = "github.com/dayops/dayops/"
	forbidden := []string{"internal/devcluster", "bench", "internal/testutil"}
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps: %v\n%s", err, stderr)
	}
	pkgs := strings.Fields(string(out))
	// The list must be the whole graph, or the check below proves nothing.
	if !slices.Contains(pkgs, module+"internal/cli") || !slices.Contains(pkgs, module+"internal/server") {
		t.Fatalf("go list -deps does not list internal/cli and internal/server:\n%s", out)
	}
	for _, p := range pkgs {
		rel, ok := strings.CutPrefix(p, module)
		if !ok {
			continue
		}
		for _, f := range forbidden {
			if rel == f || strings.HasPrefix(rel, f+"/") {
				t.Errorf("cmd/dayops links %s (no %s package may be linked into the product binary)", p, f)
			}
		}
	}
}
