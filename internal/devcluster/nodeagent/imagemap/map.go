package imagemap

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dayops/dayops/internal/devcluster/nodeagent/podenv"
	"sigs.k8s.io/yaml"
)

// Map is the one place that says how a container image becomes a local
// process. The agent has no container runtime: an image names a rule, and the
// rule names the host binary to run and the arguments the agent adds so that
// the process behaves as it would inside its own pod (bound to the pod IP).
//
// The built-in default (Default) maps every redis image to the host's
// redis-server and every dayops image, under any registry
// (dayops:dev, ghcr.io/dayops/dayops:v1.2.0), to the locally built dayops
// binary; a YAML or JSON file given with --image-map replaces it. Rules
// are tried in order and the first match wins. An image that matches no rule
// leaves its container waiting with reason ErrImagePull.
//
// A rule stands in for an image, so it must say what the image says: the
// dayops rule's entrypoint is the image's Entrypoint (DayopsImageEntrypoint,
// which `make image` writes; TestDayopsRuleMatchesBuiltImage builds the image
// and compares its config with the rule), and any path whose base name is
// dayops runs Config.DayopsBinary. A local stack that passes with the mapping
// therefore runs the commands the real image would run.
type Map struct {
	// Images are the image rules, tried in order.
	Images []Rule `json:"images"`
	// Binaries maps a command name used in a pod spec (command[0], or an
	// exec/probe command) to a host path. Names not listed are looked up in
	// the agent's PATH.
	Binaries map[string]string `json:"binaries,omitempty"`
	// Exec rules rewrite commands run inside a pod (kubectl exec, exec
	// probes) so that tools that default to 127.0.0.1 reach the pod's own
	// process instead of the machine's.
	Exec []ExecRule `json:"exec,omitempty"`
}

// Rule maps a set of images to a local command.
type Rule struct {
	// Images are patterns (path.Match syntax) over the normalised reference
	// "name:tag": docker.io/ and library/ are stripped, a missing tag is
	// "latest" and a digest is ignored. Example: "redis:*". A pattern that
	// starts with "**/" also matches under any registry and repository
	// path: "**/dayops:*" matches dayops:dev, ghcr.io/dayops/dayops:v1 and
	// localhost:5000/a/b/dayops:v1, but not ghcr.io/x/notdayops:v1.
	Images []string `json:"images"`
	// Entrypoint is the image's ENTRYPOINT: the command run when the
	// container sets no command. Empty means the container's command (or
	// Cmd) is run as is.
	Entrypoint []string `json:"entrypoint,omitempty"`
	// Cmd is the image's CMD: the arguments used when the container sets
	// neither command nor args.
	Cmd []string `json:"cmd,omitempty"`
	// ExtraArgs are appended to the arguments whenever the process is the
	// rule's entrypoint binary (for example to cripple a test image).
	ExtraArgs []string `json:"extraArgs,omitempty"`
	// BindFlag and BindArgs: when the process is the entrypoint binary and
	// its arguments do not contain BindFlag, BindArgs (after $(VAR)
	// expansion against the container environment) are appended. This is how
	// a redis-server listens on its pod IP: "--bind $(POD_IP)".
	BindFlag string   `json:"bindFlag,omitempty"`
	BindArgs []string `json:"bindArgs,omitempty"`
}

// ExecRule inserts arguments into a command run in a pod.
type ExecRule struct {
	// Command is the base name the rule applies to, e.g. "redis-cli".
	Command string `json:"command"`
	// UnlessArgs: the rule does nothing when any argument equals or starts
	// with one of these (e.g. "-h", "-u", "-s").
	UnlessArgs []string `json:"unlessArgs,omitempty"`
	// InsertArgs are inserted right after the command name, after $(VAR)
	// expansion against the container environment (POD_IP is always set).
	InsertArgs []string `json:"insertArgs"`
}

// Default is the built-in mapping. redis:7.0 and redis:7.0-next run
// the same binary (for upgrade tests); redis:7.0-bad starts and answers
// reads but rejects writes (maxmemory of 1 byte with noeviction: every write is
// refused with OOM). busybox and alpine run the container's command with the
// host's tools. redis-cli run in a pod without -h, -u or -s talks to
// $(POD_IP), as it would reach its own redis inside a real pod.
func Default() Map {
	redisBind := []string{"--bind", "$(POD_IP)", "--protected-mode", "no"}
	return Map{
		Images: []Rule{
			{
				Images:     []string{"redis:7.0-bad"},
				Entrypoint: []string{"redis-server"},
				ExtraArgs:  []string{"--maxmemory", "1", "--maxmemory-policy", "noeviction"},
				BindFlag:   "--bind",
				BindArgs:   redisBind,
			},
			{
				Images:     []string{"redis:*"},
				Entrypoint: []string{"redis-server"},
				BindFlag:   "--bind",
				BindArgs:   redisBind,
			},
			{
				// The product image (`make image`), under any registry:
				// the API, the worker and the instance manager's init
				// container (`dayops instance install`, found on the
				// image's PATH). Every dayops path maps to the local
				// binary (Config.DayopsBinary, see WithDayops).
				Images:     []string{"**/dayops:*"},
				Entrypoint: []string{DayopsImageEntrypoint},
			},
			{
				Images: []string{"busybox:*", "alpine:*", "debian:*", "ubuntu:*"},
				Cmd:    []string{"sh"},
			},
		},
		Binaries: map[string]string{
			"redis-server":    "/usr/bin/redis-server",
			"redis-cli":       "/usr/bin/redis-cli",
			"redis-benchmark": "/usr/bin/redis-benchmark",
			"redis-check-aof": "/usr/bin/redis-check-aof",
			"redis-check-rdb": "/usr/bin/redis-check-rdb",
		},
		Exec: []ExecRule{{
			Command:    "redis-cli",
			UnlessArgs: []string{"-h", "-u", "-s", "--help", "--version"},
			InsertArgs: []string{"-h", "$(POD_IP)"},
		}},
	}
}

// Load reads a YAML or JSON image map from file; an empty file name
// gives Default.
func Load(file string) (Map, error) {
	if file == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return Map{}, fmt.Errorf("read image map: %w", err)
	}
	var m Map
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		return Map{}, fmt.Errorf("decode image map %s: %w", file, err)
	}
	if err := m.Validate(); err != nil {
		return Map{}, fmt.Errorf("image map %s: %w", file, err)
	}
	return m, nil
}

// Validate reports malformed patterns and empty rules.
func (m Map) Validate() error {
	var problems []string
	for i, r := range m.Images {
		if len(r.Images) == 0 {
			problems = append(problems, fmt.Sprintf("images[%d]: no image patterns", i))
		}
		for _, p := range r.Images {
			if _, err := path.Match(strings.TrimPrefix(p, anyPrefix), ""); err != nil {
				problems = append(problems, fmt.Sprintf("images[%d]: pattern %q: %v", i, p, err))
			}
		}
	}
	for i, r := range m.Exec {
		if r.Command == "" {
			problems = append(problems, fmt.Sprintf("exec[%d]: no command", i))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// Normalize reduces an image reference to "name:tag": the docker.io
// registry and library/ namespace are dropped, a digest is ignored and a
// missing tag is "latest".
func Normalize(ref string) string {
	name, _, _ := strings.Cut(ref, "@")
	tag := "latest"
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, tag = name[:i], name[i+1:]
	}
	for _, p := range []string{"docker.io/", "index.docker.io/", "registry-1.docker.io/"} {
		name = strings.TrimPrefix(name, p)
	}
	name = strings.TrimPrefix(name, "library/")
	return name + ":" + tag
}

// Match returns the first rule matching image.
func (m Map) Match(image string) (Rule, bool) {
	ref := Normalize(image)
	for _, r := range m.Images {
		for _, p := range r.Images {
			if matchImage(p, ref) {
				return r, true
			}
		}
	}
	return Rule{}, false
}

// anyPrefix starts a pattern that matches under any registry and path.
const anyPrefix = "**/"

// matchImage matches a normalised reference against one pattern: the whole
// reference, or for a "**/" pattern also every suffix that starts after a
// "/" (whole path elements only).
func matchImage(pattern, ref string) bool {
	rest, anywhere := strings.CutPrefix(pattern, anyPrefix)
	for {
		if ok, _ := path.Match(rest, ref); ok {
			return true
		}
		i := strings.IndexByte(ref, '/')
		if !anywhere || i < 0 {
			return false
		}
		ref = ref[i+1:]
	}
}

// ErrNotMapped says an image has no rule in the image map.
type ErrNotMapped struct{ Image string }

func (e ErrNotMapped) Error() string {
	return fmt.Sprintf("image %q is not mapped to a local command (normalised %q; see the node agent's image map)", e.Image, Normalize(e.Image))
}

// Process is what the agent runs for a container.
type Process struct {
	Path string   // resolved host binary
	Args []string // argv, Args[0] is the command as written
}

// Resolve computes the process for a container of image with the pod spec's
// command and args (already $(VAR)-expanded) and the container environment
// lookup (for the bind arguments).
func (m Map) Resolve(image string, command, args []string, lookup func(string) (string, bool)) (Process, error) {
	rule, ok := m.Match(image)
	if !ok {
		return Process{}, ErrNotMapped{Image: image}
	}
	var argv []string
	switch {
	case len(command) > 0:
		argv = append(slices.Clone(command), args...)
	case len(args) > 0:
		argv = append(slices.Clone(rule.Entrypoint), args...)
	default:
		argv = append(slices.Clone(rule.Entrypoint), rule.Cmd...)
	}
	if len(argv) == 0 {
		return Process{}, fmt.Errorf("image %q: no command: the container sets none and the image map gives no entrypoint or cmd", image)
	}
	if len(rule.Entrypoint) > 0 && runsEntrypoint(argv, filepath.Base(rule.Entrypoint[0])) {
		argv = append(argv, rule.ExtraArgs...)
		if rule.BindFlag != "" && !slices.Contains(argv[1:], rule.BindFlag) {
			for _, a := range rule.BindArgs {
				argv = append(argv, podenv.Expand(a, lookup))
			}
		}
	}
	p, err := m.LookPath(argv[0])
	if err != nil {
		return Process{}, err
	}
	return Process{Path: p, Args: argv}, nil
}

// runsEntrypoint reports whether argv runs the image's entrypoint binary:
// directly, or under the dayops instance manager ("dayops instance run --
// redis-server ARGS"), whose last arguments are the entrypoint's, so the
// rule's extra and bind arguments still reach it.
func runsEntrypoint(argv []string, ep string) bool {
	if filepath.Base(argv[0]) == ep {
		return true
	}
	if filepath.Base(argv[0]) != DayopsCommand {
		return false
	}
	i := slices.Index(argv, "--")
	return i >= 0 && i+1 < len(argv) && filepath.Base(argv[i+1]) == ep
}

// DayopsCommand is the product binary's command name: the base name of the
// dayops images' entrypoint and of the instance manager a Redis container
// runs under.
const DayopsCommand = "dayops"

// DayopsImageEntrypoint is the Entrypoint of the image `make image` builds
// (tools/image BinaryPath): not /dayops, where Redis Pods mount the instance
// manager's emptyDir. LookPath maps it, as any path ending in dayops, to the
// local binary.
const DayopsImageEntrypoint = "/usr/local/bin/" + DayopsCommand

// WithDayops maps the dayops command to bin, the locally built product
// binary, unless the map already names a binary for it.
func (m Map) WithDayops(bin string) Map {
	if bin == "" {
		return m
	}
	if _, ok := m.Binaries[DayopsCommand]; ok {
		return m
	}
	b := make(map[string]string, len(m.Binaries)+1)
	for k, v := range m.Binaries {
		b[k] = v
	}
	b[DayopsCommand] = bin
	m.Binaries = b
	return m
}

// LookPath resolves a command name to a host path: the Binaries table
// first, then an absolute path as is, then the agent's PATH.
func (m Map) LookPath(name string) (string, error) {
	if p, ok := m.Binaries[filepath.Base(name)]; ok {
		return p, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("command %q: %w", name, err)
	}
	return p, nil
}

// RewriteExec applies the exec rules to a command run inside a pod.
func (m Map) RewriteExec(cmd []string, lookup func(string) (string, bool)) []string {
	if len(cmd) == 0 {
		return cmd
	}
	for _, r := range m.Exec {
		if filepath.Base(cmd[0]) != r.Command {
			continue
		}
		skip := false
		for _, a := range cmd[1:] {
			for _, u := range r.UnlessArgs {
				// "-h" also matches the glued form "-h10.0.0.1".
				short := len(u) == 2 && u[0] == '-'
				if a == u || short && strings.HasPrefix(a, u) {
					skip = true
				}
			}
		}
		if skip {
			continue
		}
		out := []string{cmd[0]}
		for _, a := range r.InsertArgs {
			out = append(out, podenv.Expand(a, lookup))
		}
		return append(out, cmd[1:]...)
	}
	return cmd
}
