// Command image builds the dayops container image without a container engine
// (`make image`): it compiles cmd/dayops of the main module as a static binary
// and writes an OCI image of it, on a base assembled here from scratch, as an
// OCI layout directory and as a `docker load` tarball.
//
// It is its own module (like tools/kube and tools/temporal) so that
// go-containerregistry never enters the main module's dependency graph; it
// runs `go build` in the main module instead of importing it.
//
// The build is reproducible: the same source, Go toolchain and flags give the
// same image digest (see image.go for what makes it so).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// config is this command's one configuration: flags, with the environment
// (IMAGE, SOURCE_DATE_EPOCH) and git supplying the defaults.
type config struct {
	// Root is the main module's directory (-root; default: the git top level
	// of the working directory).
	Root string
	// Image is the reference written into the tarball and the layout's
	// index (-image, else IMAGE; default dayops:VERSION).
	Image string
	// Version is the -X main.version of the binary and the
	// org.opencontainers.image.version label (-version; default
	// `git describe --tags --always --dirty`).
	Version string
	// Revision is the source commit: -X main.revision and the
	// org.opencontainers.image.revision label (-revision; default
	// `git rev-parse HEAD`).
	Revision string
	// Source is the org.opencontainers.image.source label (-source).
	Source string
	// Epoch is the time of every file, history entry and the image's
	// created date, in Unix seconds (-epoch, else SOURCE_DATE_EPOCH;
	// default the commit time of HEAD, else 0).
	Epoch int64
	// Arch is the GOARCH of the binary and the image (-arch; default this
	// machine's).
	Arch string
	// CACerts is the CA bundle copied into the image's
	// /etc/ssl/certs/ca-certificates.crt (-ca-certs); a missing file or ""
	// leaves the image without one.
	CACerts string
	// OCIDir is the OCI layout directory written (-oci; default
	// ROOT/bin/image/dayops-oci); "" writes none.
	OCIDir string
	// Tarball is the `docker load` tarball written (-tar; default
	// ROOT/bin/dayops-image.tar); "" writes none.
	Tarball string
}

const (
	defaultSource  = "https://github.com/dayops/dayops"
	defaultCACerts = "/etc/ssl/certs/ca-certificates.crt"
	mainModule     = "module github.com/dayops/dayops\n"
)

// Validate reports every problem at once, each naming its flag.
func (c config) Validate() error {
	var errs []error
	if b, err := os.ReadFile(filepath.Join(c.Root, "go.mod")); err != nil || !strings.HasPrefix(string(b), mainModule) {
		errs = append(errs, fmt.Errorf("-root: %q is not the dayops main module (no go.mod starting with %q)", c.Root, strings.TrimSpace(mainModule)))
	}
	if _, err := parseImage(c.Image); err != nil {
		errs = append(errs, fmt.Errorf("-image (IMAGE): %w", err))
	}
	if c.Version == "" || strings.ContainsAny(c.Version, " \t\n\"'") {
		errs = append(errs, fmt.Errorf("-version: %q must be non-empty with no spaces or quotes", c.Version))
	}
	if c.Revision == "" || strings.ContainsAny(c.Revision, " \t\n\"'") {
		errs = append(errs, fmt.Errorf("-revision: %q must be non-empty with no spaces or quotes", c.Revision))
	}
	if c.Epoch < 0 {
		errs = append(errs, fmt.Errorf("-epoch (SOURCE_DATE_EPOCH): %d must be >= 0", c.Epoch))
	}
	if !slices.Contains([]string{"amd64", "arm64", "ppc64le", "s390x", "riscv64"}, c.Arch) {
		errs = append(errs, fmt.Errorf("-arch: %q is not a supported linux GOARCH (amd64, arm64, ppc64le, s390x, riscv64)", c.Arch))
	}
	if c.OCIDir == "" && c.Tarball == "" {
		errs = append(errs, errors.New("-oci and -tar: both empty, nothing to write"))
	}
	return errors.Join(errs...)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cfg, err := loadConfig(ctx, os.Args[1:])
	if err == nil {
		err = run(ctx, cfg)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func loadConfig(ctx context.Context, args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.StringVar(&c.Root, "root", "", "the main module's directory (default: git top level)")
	fs.StringVar(&c.Image, "image", os.Getenv("IMAGE"), "image reference NAME:TAG (env IMAGE; default dayops:VERSION)")
	fs.StringVar(&c.Version, "version", "", "version (default: git describe --tags --always --dirty)")
	fs.StringVar(&c.Revision, "revision", "", "source revision (default: git rev-parse HEAD)")
	fs.StringVar(&c.Source, "source", defaultSource, "org.opencontainers.image.source label")
	epoch := fs.String("epoch", os.Getenv("SOURCE_DATE_EPOCH"), "file and creation time, Unix seconds (env SOURCE_DATE_EPOCH; default: commit time of HEAD)")
	fs.StringVar(&c.Arch, "arch", runtime.GOARCH, "GOARCH of the binary and the image")
	fs.StringVar(&c.CACerts, "ca-certs", defaultCACerts, "CA bundle to include (missing or empty: none)")
	fs.StringVar(&c.OCIDir, "oci", "", "OCI layout directory to write (default ROOT/bin/image/dayops-oci)")
	fs.StringVar(&c.Tarball, "tar", "", "docker-loadable tarball to write (default ROOT/bin/dayops-image.tar)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var err error
	if c.Root == "" {
		if c.Root, err = git(ctx, ".", "rev-parse", "--show-toplevel"); err != nil {
			return c, fmt.Errorf("-root not given and %w", err)
		}
	}
	if c.Root, err = filepath.Abs(c.Root); err != nil {
		return c, fmt.Errorf("-root: %w", err)
	}
	if c.Version == "" {
		if c.Version, err = git(ctx, c.Root, "describe", "--tags", "--always", "--dirty"); err != nil {
			return c, fmt.Errorf("-version not given and %w", err)
		}
	}
	if c.Revision == "" {
		if c.Revision, err = git(ctx, c.Root, "rev-parse", "HEAD"); err != nil {
			return c, fmt.Errorf("-revision not given and %w", err)
		}
	}
	switch {
	case *epoch != "":
		if c.Epoch, err = strconv.ParseInt(*epoch, 10, 64); err != nil {
			return c, fmt.Errorf("-epoch (SOURCE_DATE_EPOCH): %q is not Unix seconds", *epoch)
		}
	default:
		// The commit time: a rebuild of the same commit gets the same
		// dates; outside a git checkout the dates are 1970-01-01.
		if s, err := git(ctx, c.Root, "log", "-1", "--format=%ct"); err == nil {
			c.Epoch, _ = strconv.ParseInt(s, 10, 64)
		}
	}
	if c.Image == "" {
		c.Image = "dayops:" + c.Version
	}
	if !set["oci"] {
		c.OCIDir = filepath.Join(c.Root, "bin", "image", "dayops-oci")
	}
	if !set["tar"] {
		c.Tarball = filepath.Join(c.Root, "bin", "dayops-image.tar")
	}
	return c, c.Validate()
}

// parseImage accepts NAME:TAG with the tag written out (no implicit
// "latest"); a registry is optional.
func parseImage(s string) (name.Tag, error) {
	t, err := name.NewTag(s, name.WeakValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("%q must be NAME:TAG: %w", s, err)
	}
	if !strings.HasSuffix(s, ":"+t.TagStr()) {
		return name.Tag{}, fmt.Errorf("%q must be NAME:TAG: no tag", s)
	}
	return t, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

func run(ctx context.Context, cfg config) error {
	start := time.Now()
	res, err := Build(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("image %s\n  digest  %s\n  size    %.1f MB compressed (binary %.1f MB), %d layers\n",
		res.Ref, res.Digest, float64(res.Size)/1e6, float64(res.BinarySize)/1e6, res.Layers)
	if cfg.OCIDir != "" {
		fmt.Printf("  oci     %s\n", cfg.OCIDir)
	}
	if cfg.Tarball != "" {
		fmt.Printf("  tarball %s (docker load -i %s)\n", cfg.Tarball, cfg.Tarball)
	}
	fmt.Printf("  built in %.1fs (go build %.1fs)\n", time.Since(start).Seconds(), res.GoBuild.Seconds())
	return nil
}
