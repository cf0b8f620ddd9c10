package main

import (
	"archive/tar"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const (
	testRef      = "ghcr.io/dayops/dayops:v0.0.0-test"
	testVersion  = "v0.0.0-test"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
	testEpoch    = 1700000000
)

func testConfig(t *testing.T, dir string) config {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return config{
		Root: root, Image: testRef, Version: testVersion, Revision: testRevision, Source: defaultSource,
		Epoch: testEpoch, Arch: runtime.GOARCH, CACerts: defaultCACerts,
		OCIDir: filepath.Join(dir, "dayops-oci"), Tarball: filepath.Join(dir, "dayops-image.tar"),
	}
}

// TestImage builds the image twice, as `make image` does, and checks what a
// cluster would run: the config, every file of every layer, and the binary
// itself (static, the product, stamped with the version).
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the product image twice: make test runs it, make unit does not")
	}
	a, b := testConfig(t, t.TempDir()), testConfig(t, t.TempDir())
	start := time.Now()
	resA, err := Build(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first build: %s, %.1f MB compressed, %.1fs (go build %.1fs)", resA.Digest, float64(resA.Size)/1e6,
		time.Since(start).Seconds(), resA.GoBuild.Seconds())
	resB, err := Build(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("reproducible", func(t *testing.T) {
		if resA.Digest != resB.Digest {
			t.Errorf("two builds of the same source: digests %s and %s", resA.Digest, resB.Digest)
		}
		if sa, sb := fileSum(t, a.Tarball), fileSum(t, b.Tarball); sa != sb {
			t.Errorf("two builds of the same source: tarballs differ (%s, %s)", sa, sb)
		}
	})

	img := layoutImage(t, a.OCIDir, resA.Digest)

	t.Run("valid", func(t *testing.T) {
		// Every digest, size and diff ID recomputed from the blobs.
		if err := validate.Image(img); err != nil {
			t.Errorf("OCI layout: %v", err)
		}
		idx, err := layout.ImageIndexFromPath(a.OCIDir)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Index(idx); err != nil {
			t.Errorf("OCI layout index: %v", err)
		}
	})

	t.Run("tarball holds the same image", func(t *testing.T) {
		tag, err := name.NewTag(testRef)
		if err != nil {
			t.Fatal(err)
		}
		timg, err := tarball.ImageFromPath(a.Tarball, &tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(timg); err != nil {
			t.Errorf("tarball: %v", err)
		}
		// The docker form keeps the config and layers, not the manifest.
		if diff := cmp.Diff(mustConfigName(t, img), mustConfigName(t, timg)); diff != "" {
			t.Errorf("config digest (-layout +tarball):\n%s", diff)
		}
		if diff := cmp.Diff(layerDigests(t, img), layerDigests(t, timg)); diff != "" {
			t.Errorf("layer digests (-layout +tarball):\n%s", diff)
		}
	})

	t.Run("config", func(t *testing.T) {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		created := time.Unix(testEpoch, 0).UTC()
		want := v1.Config{
			Entrypoint:   []string{"/usr/local/bin/dayops"},
			User:         "65532:65532",
			WorkingDir:   "/home/nonroot",
			Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
			ExposedPorts: map[string]struct{}{"8080/tcp": {}},
			Labels: map[string]string{
				"org.opencontainers.image.title":       "dayops",
				"org.opencontainers.image.description": "Day-2 operations engine for Redis Cluster on Kubernetes",
				"org.opencontainers.image.source":      "https://github.com/dayops/dayops",
				"org.opencontainers.image.version":     testVersion,
				"org.opencontainers.image.revision":    testRevision,
				"org.opencontainers.image.created":     created.Format(time.RFC3339),
			},
		}
		if diff := cmp.Diff(want, cf.Config); diff != "" {
			t.Errorf("config (-want +got):\n%s", diff)
		}
		if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || !cf.Created.Equal(created) {
			t.Errorf("platform %s/%s created %s; want linux/%s created %s", cf.OS, cf.Architecture, cf.Created, runtime.GOARCH, created)
		}
	})

	layers := layerFiles(t, img)

	t.Run("files", func(t *testing.T) {
		// Every entry of every layer: the base, then the binary alone. No
		// dayops-dev, no benchmarks, no shell.
		want := [][]string{{
			"etc/ d 0755 0:0", "etc/group f 0644 0:0", "etc/nsswitch.conf f 0644 0:0", "etc/passwd f 0644 0:0",
			"etc/ssl/ d 0755 0:0", "etc/ssl/certs/ d 0755 0:0", "etc/ssl/certs/ca-certificates.crt f 0644 0:0",
			"home/ d 0755 0:0", "home/nonroot/ d 0700 65532:65532", "root/ d 0700 0:0", "tmp/ d 1777 0:0",
		}, {
			"usr/ d 0755 0:0", "usr/local/ d 0755 0:0", "usr/local/bin/ d 0755 0:0", "usr/local/bin/dayops f 0755 0:0",
		}}
		if _, err := os.Stat(defaultCACerts); err != nil {
			want[0] = []string{"etc/ d 0755 0:0", "etc/group f 0644 0:0", "etc/nsswitch.conf f 0644 0:0", "etc/passwd f 0644 0:0",
				"home/ d 0755 0:0", "home/nonroot/ d 0700 65532:65532", "root/ d 0700 0:0", "tmp/ d 1777 0:0"}
		}
		var got [][]string
		for _, l := range layers {
			var entries []string
			for _, f := range l {
				entries = append(entries, f.String())
				if !f.mtime.Equal(time.Unix(testEpoch, 0)) {
					t.Errorf("%s: mtime %s, want the epoch", f.name, f.mtime)
				}
			}
			got = append(got, entries)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("layer entries (-want +got):\n%s", diff)
		}
		passwd := string(findFile(t, layers, "etc/passwd").data)
		if !strings.Contains(passwd, "\nnonroot:x:65532:65532:nonroot:/home/nonroot:") {
			t.Errorf("/etc/passwd names no nonroot user 65532:\n%s", passwd)
		}
	})

	t.Run("binary", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "dayops")
		if err := os.WriteFile(bin, findFile(t, layers, "usr/local/bin/dayops").data, 0o755); err != nil {
			t.Fatal(err)
		}
		// Static: the base has no dynamic loader and no libc.
		ef, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ef.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("the binary asks for a dynamic loader (PT_INTERP): not built with CGO_ENABLED=0")
			}
		}
		ef.Close()
		out, err := exec.CommandContext(t.Context(), bin, "version").CombinedOutput()
		if err != nil {
			t.Fatalf("dayops version: %v\n%s", err, out)
		}
		if want := fmt.Sprintf("dayops %s revision %s ", testVersion, testRevision); !strings.HasPrefix(string(out), want) {
			t.Errorf("dayops version = %q, want it to start with %q", out, want)
		}
		// The product, not the dev binary: no stack, no benchmarks.
		for _, verb := range []string{"dev", "bench", "agent"} {
			out, err := exec.CommandContext(t.Context(), bin, verb, "--help").CombinedOutput()
			if err == nil || !strings.Contains(string(out), "unknown command") {
				t.Errorf("dayops %s: %v\n%s\nwant unknown command", verb, err, out)
			}
		}
	})

	t.Run("runs in its own root as nonroot", func(t *testing.T) {
		// No libc, no shell, not root: chrooted into the unpacked layers.
		out, err := runInRoot(t, img, layers, "version")
		if err != nil {
			t.Fatalf("dayops version in the image's root: %v\n%s", err, out)
		}
		if want := fmt.Sprintf("dayops %s revision %s ", testVersion, testRevision); !strings.HasPrefix(string(out), want) {
			t.Errorf("dayops version in the image's root = %q, want it to start with %q", out, want)
		}
	})
}

// runInRoot unpacks the layers into a directory and runs the image's
// entrypoint there as a container runtime would: chrooted, as the image's
// user, in its WorkingDir, with its Env. It needs root (chroot, setuid).
func runInRoot(t *testing.T, img v1.Image, layers [][]entry, args ...string) ([]byte, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running in the image's root needs root (chroot)")
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		for _, e := range l {
			p := filepath.Join(root, e.name)
			mode := os.FileMode(e.mode & 0o777)
			if e.mode&0o1000 != 0 {
				mode |= os.ModeSticky
			}
			if e.typ == tar.TypeDir {
				err = os.MkdirAll(p, mode)
			} else {
				err = os.WriteFile(p, e.data, mode)
			}
			if err == nil {
				err = os.Chmod(p, mode) // not narrowed by the umask
			}
			if err == nil {
				err = os.Lchown(p, e.uid, e.gid)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	uid, gid, _ := strings.Cut(cf.Config.User, ":")
	u, err1 := strconv.ParseUint(uid, 10, 32)
	g, err2 := strconv.ParseUint(gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("image user %q is not numeric uid:gid", cf.Config.User)
	}
	cmd := exec.CommandContext(t.Context(), cf.Config.Entrypoint[0], args...)
	cmd.Path = cf.Config.Entrypoint[0] // inside the root, not on this machine
	cmd.Dir, cmd.Env = cf.Config.WorkingDir, cf.Config.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uint32(u), Gid: uint32(g)}}
	return cmd.CombinedOutput()
}

func TestValidate(t *testing.T) {
	good := testConfig(t, t.TempDir())
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", good, err)
	}
	tests := map[string]struct {
		edit func(*config)
		want string
	}{
		"root":        {func(c *config) { c.Root = t.TempDir() }, "-root: "},
		"no tag":      {func(c *config) { c.Image = "ghcr.io/dayops/dayops" }, "-image (IMAGE): \"ghcr.io/dayops/dayops\" must be NAME:TAG: no tag"},
		"bad image":   {func(c *config) { c.Image = "Dayops:v1" }, "-image (IMAGE): "},
		"version":     {func(c *config) { c.Version = "v1 beta" }, "-version: "},
		"revision":    {func(c *config) { c.Revision = "" }, "-revision: "},
		"epoch":       {func(c *config) { c.Epoch = -1 }, "-epoch (SOURCE_DATE_EPOCH): -1"},
		"arch":        {func(c *config) { c.Arch = "386" }, "-arch: \"386\""},
		"no outputs":  {func(c *config) { c.OCIDir, c.Tarball = "", "" }, "-oci and -tar: both empty"},
		"one output":  {func(c *config) { c.OCIDir = "" }, ""},
		"docker name": {func(c *config) { c.Image = "dayops:dev" }, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Every problem at once.
	bad := good
	bad.Version, bad.Epoch = "", -1
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "-version") || !strings.Contains(err.Error(), "-epoch") {
		t.Errorf("Validate of two problems = %v, want both", err)
	}
}

func TestLoadConfig(t *testing.T) {
	t.Setenv("IMAGE", "")
	t.Setenv("SOURCE_DATE_EPOCH", "1700000001")
	c, err := loadConfig(t.Context(), []string{"-root", "../..", "-version", "v9", "-revision", "abc", "-tar", ""})
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("../..")
	want := config{Root: root, Image: "dayops:v9", Version: "v9", Revision: "abc", Source: defaultSource, Epoch: 1700000001,
		Arch: runtime.GOARCH, CACerts: defaultCACerts, OCIDir: filepath.Join(root, "bin", "image", "dayops-oci")}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	t.Setenv("IMAGE", "registry.example.com/dayops:v9")
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := loadConfig(t.Context(), []string{"-root", "../..", "-version", "v9", "-revision", "abc"}); err == nil ||
		!strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("loadConfig with SOURCE_DATE_EPOCH=yesterday: %v", err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "0")
	if c, err := loadConfig(t.Context(), []string{"-root", "../..", "-version", "v9", "-revision", "abc"}); err != nil || c.Image != "registry.example.com/dayops:v9" {
		t.Errorf("loadConfig with IMAGE set: image %q, %v", c.Image, err)
	}
}

func layoutImage(t *testing.T, dir string, digest v1.Hash) v1.Image {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != digest {
		t.Fatalf("layout %s: index %+v, want the one image %s", dir, im.Manifests, digest)
	}
	if got := im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != testVersion {
		t.Errorf("layout ref.name %q, want %q", got, testVersion)
	}
	img, err := idx.Image(digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

type entry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	mtime    time.Time
	data     []byte
}

func (e entry) String() string {
	kind := "f"
	switch e.typ {
	case tar.TypeDir:
		kind = "d"
	case tar.TypeReg:
	default:
		kind = fmt.Sprintf("type %q", e.typ)
	}
	return fmt.Sprintf("%s %s %04o %d:%d", e.name, kind, e.mode, e.uid, e.gid)
}

func layerFiles(t *testing.T, img v1.Image) [][]entry {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]entry
	for _, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var entries []entry
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, entry{name: h.Name, typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid, mtime: h.ModTime, data: data})
		}
		rc.Close()
		out = append(out, entries)
	}
	return out
}

func findFile(t *testing.T, layers [][]entry, name string) entry {
	t.Helper()
	for _, l := range layers {
		for _, e := range l {
			if e.name == name {
				return e
			}
		}
	}
	t.Fatalf("no %s in the image", name)
	return entry{}
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func mustConfigName(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func layerDigests(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var hs []v1.Hash
	for _, l := range ls {
		h, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return hs
}
