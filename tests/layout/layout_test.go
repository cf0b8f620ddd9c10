// Package layout holds the tests that keep the house's shape: which packages
// may link what. Each rule reads `go list -deps` (what the linker sees, test
// files excluded); a failure names the package that broke it, and
// `go list -deps -f '{{.ImportPath}}: {{.Imports}}' PKG` shows who imports it.
package layout

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/dayops/dayops/"

var rules = map[string]struct {
	why       string
	forbidden []string // import path prefixes (module-relative when they start with "internal/" or "bench")
	mustLink  []string // proves the list is the whole graph
	// direct checks the package's own imports instead of everything it
	// links (httpapi and admission start workflows, whose package links
	// the activities; they must not import an activity themselves).
	direct bool
}{
	// The product binary holds the API, worker, CLI and instance manager;
	// the local stack, benchmarks and test utilities build into
	// cmd/dayops-dev.
	"cmd/dayops": {why: "the product binary links no dev-stack, benchmark or test-utility package",
		forbidden: []string{"internal/devcluster", "bench", "internal/testutil"},
		mustLink:  []string{"internal/cli", "internal/server"}},
	// The CLI is a plain REST client over internal/apiv1; the offline audit
	// mode lives in internal/cli/auditdb, wired by cmd/dayops.
	"internal/cli": {why: "the CLI links no Temporal SDK, client-go or pgx",
		forbidden: []string{"go.temporal.io/sdk", "k8s.io/client-go", "github.com/jackc/pgx"},
		mustLink:  []string{"internal/apiv1"}},
	// Libraries apart from adapters: activities adapt them; they do not
	// adapt themselves.
	"internal/redis/clusteradmin":           {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/redis/pace":                   {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/redis/slotmigrate":            {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/redis/slotmigrate/leftopen":   {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/redis/misconf":                {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/instance/addrguard":           {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/instance/aofrepair":           {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/instance/selfinstall":         {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/redis/clusteradmin/readdress": {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/redis/slotcopy":               {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/redis/pipe":                   {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/redis/rdb":                    {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/kube/render":                  {why: "a library imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/guard":                        {why: "pure assessment imports no Temporal package", forbidden: []string{"go.temporal.io/"}},
	"internal/admission":                    {why: "admission calls no activity", forbidden: []string{"internal/activities"}, direct: true},
	"internal/httpapi":                      {why: "the API calls no activity", forbidden: []string{"internal/activities"}, direct: true},
}

func TestLayout(t *testing.T) {
	for pkg, r := range rules {
		t.Run(pkg, func(t *testing.T) {
			t.Parallel()
			args := []string{"list", "-deps", "../../" + pkg}
			if r.direct {
				args = []string{"list", "-f", `{{join .Imports "\n"}}`, "../../" + pkg}
			}
			out, err := exec.CommandContext(t.Context(), "go", args...).Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("go list -deps: %v\n%s", err, stderr)
			}
			deps := strings.Fields(string(out))
			for _, m := range r.mustLink {
				if !slices.Contains(deps, module+m) {
					t.Fatalf("go list -deps %s does not list %s:\n%s", pkg, m, out)
				}
			}
			for _, d := range deps {
				for _, f := range r.forbidden {
					p := f
					if strings.HasPrefix(f, "internal/") || f == "bench" {
						p = module + f
					}
					if d == p || strings.HasPrefix(d, strings.TrimSuffix(p, "/")+"/") {
						t.Errorf("%s links %s: %s", pkg, d, r.why)
					}
				}
			}
		})
	}
}
