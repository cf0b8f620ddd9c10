package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's contract. The node agent of the local stack maps the image's
// entrypoint to the locally built binary (internal/devcluster/nodeagent,
// imagemap.go); its test builds this image and checks the two agree.
const (
	// BinaryPath is where the product binary lives and the Entrypoint. Not
	// /dayops: Redis Pods mount the instance manager's emptyDir there
	// (internal/kube/render InstanceManagerDir), and an init container of
	// this image runs `dayops instance install --to /dayops`, found on PATH.
	BinaryPath = "/usr/local/bin/dayops"
	// User is the numeric user:group the image runs as (nonroot in
	// /etc/passwd, as in distroless); deploy/ sets runAsUser to the same.
	User = "65532:65532"
	// Home is nonroot's home directory and the WorkingDir.
	Home = "/home/nonroot"
	// APIPort is the exposed port: the API's default (DAYOPS_API).
	APIPort = "8080/tcp"
	// Path is the image's PATH.
	Path = "/usr/local/bin:/usr/bin:/bin"
	// CACertsPath is where the CA bundle goes (the first place Go's
	// crypto/x509 looks on Linux).
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
)

// Result is what Build made.
type Result struct {
	Ref        name.Tag
	Digest     v1.Hash // the manifest digest
	Size       int64   // manifest + config + compressed layers, bytes
	BinarySize int64
	Layers     int
	GoBuild    time.Duration
}

// Build compiles the binary, assembles the image and writes the outputs.
// Outputs are written beside their final place and renamed into it, so a
// failed build leaves the previous outputs as they were.
func Build(ctx context.Context, cfg config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	ref, _ := parseImage(cfg.Image)
	tmp, err := os.MkdirTemp("", "dayops-image-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)

	start := time.Now()
	bin := filepath.Join(tmp, "dayops")
	if err := buildBinary(ctx, cfg, bin); err != nil {
		return Result{}, err
	}
	res := Result{Ref: ref, GoBuild: time.Since(start)}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return Result{}, err
	}
	res.BinarySize = int64(len(binary))
	var caCerts []byte
	if cfg.CACerts != "" {
		if caCerts, err = os.ReadFile(cfg.CACerts); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Result{}, fmt.Errorf("-ca-certs: %w", err)
		}
	}
	img, err := Assemble(Spec{
		Binary: binary, CACerts: caCerts, Arch: cfg.Arch, Created: time.Unix(cfg.Epoch, 0).UTC(),
		Labels: Labels(cfg),
	})
	if err != nil {
		return Result{}, err
	}
	if res.Digest, err = img.Digest(); err != nil {
		return Result{}, err
	}
	if res.Size, err = imageSize(img); err != nil {
		return Result{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return Result{}, err
	}
	res.Layers = len(layers)
	if cfg.OCIDir != "" {
		if err := writeLayout(cfg.OCIDir, ref, img); err != nil {
			return Result{}, fmt.Errorf("write OCI layout %s: %w", cfg.OCIDir, err)
		}
	}
	if cfg.Tarball != "" {
		if err := writeTarball(cfg.Tarball, ref, img); err != nil {
			return Result{}, fmt.Errorf("write tarball %s: %w", cfg.Tarball, err)
		}
	}
	return res, nil
}

// buildBinary compiles cmd/dayops as the image holds it: static
// (CGO_ENABLED=0; the base has no libc), without paths of this machine
// (-trimpath) or VCS stamps (-buildvcs=false: the revision comes in by -X),
// stripped (-s -w).
func buildBinary(ctx context.Context, cfg config, out string) error {
	ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.revision=%s", cfg.Version, cfg.Revision)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, "./cmd/dayops")
	cmd.Dir = cfg.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+cfg.Arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/dayops in %s: %w", cfg.Root, err)
	}
	return nil
}

// Labels are the image's OCI annotations as config labels.
func Labels(cfg config) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "dayops",
		"org.opencontainers.image.description": "Day-2 operations engine for Redis Cluster on Kubernetes",
		"org.opencontainers.image.source":      cfg.Source,
		"org.opencontainers.image.version":     cfg.Version,
		"org.opencontainers.image.revision":    cfg.Revision,
		"org.opencontainers.image.created":     time.Unix(cfg.Epoch, 0).UTC().Format(time.RFC3339),
	}
}

// Spec is everything an image is made of; equal Specs give equal digests.
type Spec struct {
	Binary  []byte // the static product binary, at BinaryPath
	CACerts []byte // the CA bundle at CACertsPath; nil: none
	Arch    string
	Created time.Time // every file's mtime, the history's and the image's created
	Labels  map[string]string
}

// Assemble builds the image on nothing (empty.Image: there is no registry to
// pull a base from): a base layer with what a static Go program expects of
// a Linux root (passwd and group naming the nonroot user, nsswitch.conf,
// the CA bundle, /tmp) and a layer with the binary alone.
//
// It is reproducible: tar entries are sorted, owned by numbers without
// names and dated Spec.Created; gzip writes no name or time; the config
// and history carry only Spec's values.
func Assemble(s Spec) (v1.Image, error) {
	base, err := layer(baseFiles(s), s.Created)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	app, err := layer([]file{
		dir("usr/", 0o755), dir("usr/local/", 0o755), dir("usr/local/bin/", 0o755),
		{name: strings.TrimPrefix(BinaryPath, "/"), mode: 0o755, data: s.Binary},
	}, s.Created)
	if err != nil {
		return nil, fmt.Errorf("binary layer: %w", err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: s.Arch,
		OS:           "linux",
		Created:      v1.Time{Time: s.Created},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint:   []string{BinaryPath},
			User:         User,
			WorkingDir:   Home,
			Env:          []string{"PATH=" + Path, "SSL_CERT_FILE=" + CACertsPath},
			ExposedPorts: map[string]struct{}{APIPort: {}},
			Labels:       s.Labels,
		},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{
			Created: v1.Time{Time: s.Created}, CreatedBy: "dayops tools/image: base (passwd, group, nsswitch.conf, CA certificates, /tmp)"}},
		mutate.Addendum{Layer: app, History: v1.History{
			Created: v1.Time{Time: s.Created}, CreatedBy: "dayops tools/image: " + BinaryPath + " (go build -trimpath, CGO_ENABLED=0)"}},
	)
}

func baseFiles(s Spec) []file {
	files := []file{
		dir("etc/", 0o755),
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:" + Home + ":/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		dir("home/", 0o755),
		{name: strings.TrimPrefix(Home, "/") + "/", mode: 0o700, dir: true, uid: 65532},
		dir("root/", 0o700),
		{name: "tmp/", mode: 0o1777, dir: true},
	}
	if s.CACerts != nil {
		files = append(files, dir("etc/ssl/", 0o755), dir("etc/ssl/certs/", 0o755),
			file{name: strings.TrimPrefix(CACertsPath, "/"), mode: 0o644, data: s.CACerts})
	}
	return files
}

// file is one tar entry; uid is also the gid.
type file struct {
	name string
	mode int64
	dir  bool
	uid  int
	data []byte
}

func dir(name string, mode int64) file { return file{name: name, mode: mode, dir: true} }

// layer writes files sorted by name (a directory's entry sorts before its
// contents) into an uncompressed tar and makes a gzip OCI layer of it.
func layer(files []file, mtime time.Time) (v1.Layer, error) {
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: mtime}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.DefaultCompression), tarball.WithCompressedCaching)
}

func imageSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	n := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

// writeLayout writes an OCI layout holding img alone, named ref (the tag in
// org.opencontainers.image.ref.name, the whole reference in containerd's
// io.containerd.image.name), replacing dir.
func writeLayout(dir string, ref name.Tag, img v1.Image) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref.TagStr(),
		"io.containerd.image.name":          containerdName(ref),
	})); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// containerdName is ref as containerd names images: docker.io/library/dayops:v1
// for dayops:v1 (ggcr writes the Docker Hub registry as index.docker.io).
func containerdName(ref name.Tag) string {
	reg := ref.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + ref.RepositoryStr() + ":" + ref.TagStr()
}

// writeTarball writes the `docker load` form (manifest.json, the config and
// the compressed layers) tagged ref.
func writeTarball(path string, ref name.Tag, img v1.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
