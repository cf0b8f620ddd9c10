package imagemap

import (
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/dayops/dayops/internal/kube/render"
)

// TestDayopsRuleMatchesBuiltImage builds the product image as `make image`
// does (tools/image, into a temporary directory) and checks that the
// default image map runs what that image would run, so that a local stack
// passing with the mapping cannot hide a broken image: the rule matches the
// image's reference, its entrypoint is the image's Entrypoint, the command
// of the instance manager's init container is found on the image's PATH at
// that entrypoint, away from the directory the init container mounts, and
// the image runs as a numeric non-root user.
func TestDayopsRuleMatchesBuiltImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the product image (a full static build): make test runs it, make unit does not")
	}
	root, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	const ref = "ghcr.io/dayops/dayops:v0.0.0-imagemap"
	oci := filepath.Join(t.TempDir(), "oci")
	cmd := exec.CommandContext(t.Context(), "go", "run", ".", "-root", root, "-image", ref,
		"-version", "v0.0.0-imagemap", "-revision", "imagemap", "-epoch", "0", "-oci", oci, "-tar", "")
	cmd.Dir = filepath.Join(root, "tools", "image")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the image (tools/image): %v\n%s", err, out)
	}
	img := readOCIConfig(t, oci)

	m := Default().WithDayops("/opt/bin/dayops")
	rule, ok := m.Match(ref)
	if !ok {
		t.Fatalf("the default image map has no rule for %s", ref)
	}
	if diff := cmp.Diff(img.Config.Entrypoint, rule.Entrypoint); diff != "" {
		t.Errorf("the dayops rule's entrypoint is not the image's (-image +rule):\n%s", diff)
	}
	if diff := cmp.Diff(img.Config.Cmd, rule.Cmd); diff != "" {
		t.Errorf("the dayops rule's cmd is not the image's (-image +rule):\n%s", diff)
	}

	// A container that sets only args (deploy/base: args [server, ...]).
	env := func(string) (string, bool) { return "", false }
	ps, err := m.Resolve(ref, nil, []string{"server", "--roles", "api"}, env)
	if err != nil {
		t.Fatal(err)
	}
	want := Process{Path: "/opt/bin/dayops", Args: append(slices.Clone(img.Config.Entrypoint), "server", "--roles", "api")}
	if diff := cmp.Diff(want, ps, cmp.AllowUnexported(Process{})); diff != "" {
		t.Errorf("Resolve (-want +got):\n%s", diff)
	}

	// The instance manager's init container, as the operator renders it.
	pod := render.WithInstanceManager(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "redis"}}}}, ref)
	init := pod.Spec.InitContainers[0]
	if init.Image != ref || len(init.Command) == 0 {
		t.Fatalf("render.WithInstanceManager gave init container %+v", init)
	}
	if !onPath(img.Config.Env, init.Command[0], img.Config.Entrypoint[0]) {
		t.Errorf("init container command %q does not find the image's binary %s (env %q)", init.Command[0], img.Config.Entrypoint[0], img.Config.Env)
	}
	for _, vm := range init.VolumeMounts {
		if ep := img.Config.Entrypoint[0]; ep == vm.MountPath || strings.HasPrefix(ep, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			t.Errorf("the init container mounts %s over the image's binary %s", vm.MountPath, ep)
		}
	}
	if ps, err := m.Resolve(ref, init.Command, init.Args, env); err != nil || ps.Path != "/opt/bin/dayops" {
		t.Errorf("Resolve of the init container = %+v, %v; want /opt/bin/dayops", ps, err)
	}

	// Non-root, numerically (runAsNonRoot cannot check a user name).
	uid, _, _ := strings.Cut(img.Config.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("image user %q: want a numeric non-root uid", img.Config.User)
	}
}

// ociConfig is the part of an OCI image config this test reads.
type ociConfig struct {
	Config struct {
		Entrypoint []string `json:"Entrypoint"`
		Cmd        []string `json:"Cmd"`
		Env        []string `json:"Env"`
		User       string   `json:"User"`
	} `json:"config"`
}

// readOCIConfig follows an OCI layout holding one image: index.json, the
// manifest, the config.
func readOCIConfig(t *testing.T, dir string) ociConfig {
	t.Helper()
	type descriptor struct {
		Digest string `json:"digest"`
	}
	blob := func(d string) []byte {
		alg, hex, ok := strings.Cut(d, ":")
		if !ok {
			t.Fatalf("descriptor digest %q", d)
		}
		b, err := os.ReadFile(filepath.Join(dir, "blobs", alg, hex))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v, %d manifests, want 1", err, len(index.Manifests))
	}
	var manifest struct {
		Config descriptor `json:"config"`
	}
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &manifest); err != nil {
		t.Fatal(err)
	}
	var cfg ociConfig
	if err := json.Unmarshal(blob(manifest.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Config.Entrypoint) == 0 {
		t.Fatal("the image has no Entrypoint")
	}
	return cfg
}

// onPath reports whether a container runtime, resolving cmd with the
// image's environment, can reach bin: cmd is bin, or bin is cmd in a
// directory of PATH (the image holds no other file in those directories:
// tools/image's test checks every file of every layer).
func onPath(env []string, cmd, bin string) bool {
	if path.IsAbs(cmd) {
		return cmd == bin
	}
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			return slices.Contains(strings.Split(p, ":"), path.Dir(bin)) && path.Base(bin) == cmd
		}
	}
	return false
}
