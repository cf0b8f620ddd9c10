package imagemap

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMatchImage(t *testing.T) {
	tests := map[string]struct {
		pattern, ref string
		want         bool
	}{
		"plain pattern, plain name":           {"dayops:*", "dayops:dev", true},
		"plain pattern needs the whole name":  {"dayops:*", "ghcr.io/dayops/dayops:v1", false},
		"anywhere, no prefix":                 {"**/dayops:*", "dayops:dev", true},
		"anywhere, registry":                  {"**/dayops:*", "registry.example.com/dayops:v0.1.0", true},
		"anywhere, registry and organisation": {"**/dayops:*", "ghcr.io/dayops/dayops:v1.2.0", true},
		"anywhere, registry with port":        {"**/dayops:*", "localhost:5000/a/b/dayops:v1", true},
		"anywhere, whole path elements only":  {"**/dayops:*", "ghcr.io/x/notdayops:v1", false},
		"anywhere, name is not a prefix":      {"**/dayops:*", "ghcr.io/dayops/dayops-dev:v1", false},
		"anywhere, repository is not a name":  {"**/dayops:*", "ghcr.io/dayops/bench:v1", false},
		"anywhere with a path pattern":        {"**/dayops/dayops:v*", "ghcr.io/dayops/dayops:v2", true},
		"anywhere with a path pattern, other": {"**/dayops/dayops:v*", "ghcr.io/other/dayops:v2", false},
		"malformed pattern matches nothing":   {"**/[", "x/[", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := matchImage(tc.pattern, tc.ref); got != tc.want {
				t.Errorf("matchImage(%q, %q) = %v, want %v", tc.pattern, tc.ref, got, tc.want)
			}
		})
	}
}

func TestResolveDayopsImages(t *testing.T) {
	m := Default().WithDayops("/opt/bin/dayops")
	env := func(string) (string, bool) { return "", false }
	tests := map[string]struct {
		image         string
		command, args []string
		want          Process
		notMapped     bool
	}{
		"local tag runs the image's entrypoint": {
			image: "dayops:dev", args: []string{"server", "--roles", "api"},
			want: Process{Path: "/opt/bin/dayops", Args: []string{DayopsImageEntrypoint, "server", "--roles", "api"}},
		},
		"registry and organisation": {
			image: "ghcr.io/dayops/dayops:v1.2.0", args: []string{"server", "--roles", "worker"},
			want: Process{Path: "/opt/bin/dayops", Args: []string{DayopsImageEntrypoint, "server", "--roles", "worker"}},
		},
		"registry of the example overlay, digest ignored": {
			image: "registry.example.com/dayops:v0.1.0@sha256:0123", args: []string{"version"},
			want: Process{Path: "/opt/bin/dayops", Args: []string{DayopsImageEntrypoint, "version"}},
		},
		"registry with a port, no args": {
			image: "localhost:5000/dayops:v1",
			want:  Process{Path: "/opt/bin/dayops", Args: []string{DayopsImageEntrypoint}},
		},
		"instance manager init container under a registry": {
			image: "ghcr.io/dayops/dayops:v1.2.0", command: []string{"dayops", "instance", "install", "--to", "/dayops"},
			want: Process{Path: "/opt/bin/dayops", Args: []string{"dayops", "instance", "install", "--to", "/dayops"}},
		},
		"the entrypoint path written as a command": {
			image: "ghcr.io/dayops/dayops:v1.2.0", command: []string{DayopsImageEntrypoint, "version"},
			want: Process{Path: "/opt/bin/dayops", Args: []string{DayopsImageEntrypoint, "version"}},
		},
		"another repository ending in dayops": {image: "ghcr.io/x/notdayops:v1", notMapped: true},
		"the dev binary has no image":         {image: "ghcr.io/dayops/dayops-dev:v1", notMapped: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := m.Resolve(tc.image, tc.command, tc.args, env)
			if tc.notMapped {
				var nm ErrNotMapped
				if !errors.As(err, &nm) {
					t.Fatalf("Resolve(%q) = %v, %v; want ErrNotMapped", tc.image, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(Process{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateAnywherePattern(t *testing.T) {
	ok := Map{Images: []Rule{{Images: []string{"**/dayops:*", "**/redis:7.*"}}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%v) = %v", ok.Images, err)
	}
	bad := Map{Images: []Rule{{Images: []string{"**/[dayops"}}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `images[0]: pattern "**/[dayops"`) {
		t.Errorf("Validate of a malformed ** pattern: %v", err)
	}
}
