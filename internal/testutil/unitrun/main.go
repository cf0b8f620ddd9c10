package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "unitrun:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	parallel  int      // test binaries run at once (-p)
	cache     string   // where the test binaries are kept (-cache)
	ldflags   string   // -ldflags of the links
	patterns  []string // the packages
	testFlags []string // for the test binaries, already as -test.NAME
}

func parse(args []string) (config, error) {
	fs := flag.NewFlagSet("unitrun", flag.ContinueOnError)
	var c config
	fs.IntVar(&c.parallel, "p", 4, "test binaries run at once")
	fs.StringVar(&c.cache, "cache", "", "directory the test binaries are kept in (default: $(go env GOCACHE)/unitrun/<module dir hash>)")
	fs.StringVar(&c.ldflags, "ldflags", "", "-ldflags of the test binaries")
	pkgArgs, testArgs, _ := cutArgs(args, "--")
	if err := fs.Parse(pkgArgs); err != nil {
		return c, err
	}
	c.patterns = fs.Args()
	if len(c.patterns) == 0 {
		c.patterns = []string{"."}
	}
	c.testFlags = testBinaryFlags(testArgs)
	if c.parallel < 1 {
		return c, errors.New("-p must be at least 1")
	}
	return c, nil
}

func cutArgs(args []string, sep string) (before, after []string, found bool) {
	if i := slices.Index(args, sep); i >= 0 {
		return args[:i], args[i+1:], true
	}
	return args, nil, false
}

// testBinaryFlags turns go test's spelling of the test flags (-run X,
// -count=1, --v) into the test binary's (-test.run X, -test.count=1,
// -test.v); arguments that are no flag (a flag's value) stay as they are.
func testBinaryFlags(args []string) []string {
	out := make([]string, 0, len(args)+1)
	timeout := false
	for _, a := range args {
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "-") || name == "" || strings.HasPrefix(name, "test.") {
			out = append(out, a)
			continue
		}
		k, _, _ := strings.Cut(name, "=")
		timeout = timeout || k == "timeout"
		out = append(out, "-test."+name)
	}
	if !timeout {
		out = append(out, "-test.timeout=10m0s") // go test's default
	}
	return append(out, "-test.paniconexit0")
}

// pkg is a package with tests.
type pkg struct {
	ImportPath string
	Dir        string
	Binary     string // its test binary in the cache
	built      *batch // the build its binary comes from
}

// batch is one `go test -c` of some of the packages.
type batch struct {
	done chan struct{} // closed when the build ended
	err  error
}

// buildInBatches builds the binaries of pkgs in n batches, one after the
// other in pkgs' order, in the background: the tests of the first batch
// run while the next ones link (after a change to a package most others
// import, linking is most of the work).
func buildInBatches(ctx context.Context, cfg config, pkgs []pkg, n int) {
	size := (len(pkgs) + n - 1) / n
	var batches []*batch
	for i := range pkgs {
		if i%size == 0 {
			batches = append(batches, &batch{done: make(chan struct{})})
		}
		pkgs[i].built = batches[len(batches)-1]
	}
	go func() {
		for i, b := range batches {
			byDir := map[string][]string{}
			for _, p := range pkgs[i*size : min((i+1)*size, len(pkgs))] {
				byDir[filepath.Dir(p.Binary)] = append(byDir[filepath.Dir(p.Binary)], p.ImportPath)
			}
			for _, dir := range slices.Sorted(maps.Keys(byDir)) {
				if err := build(ctx, cfg, dir, byDir[dir]); err != nil && b.err == nil {
					b.err = err
				}
			}
			close(b.done)
		}
	}()
}

func run(ctx context.Context, args []string) error {
	cfg, err := parse(args)
	if err != nil {
		return err
	}
	if cfg.cache == "" {
		if cfg.cache, err = defaultCache(ctx); err != nil {
			return err
		}
	}
	pkgs, err := listPackages(ctx, cfg.patterns)
	if err != nil {
		return err
	}
	assignBinaries(pkgs, cfg.cache)
	// The slowest packages of the last run start first, so that the run is
	// not one slow package started last.
	last := loadDurations(cfg.cache)
	slices.SortStableFunc(pkgs, func(a, b pkg) int { return cmp.Compare(last.of(b.ImportPath), last.of(a.ImportPath)) })
	buildInBatches(ctx, cfg, pkgs, 4)
	failed := runAll(ctx, cfg, pkgs, last)
	saveDurations(cfg.cache, last)
	if failed > 0 {
		return fmt.Errorf("%d of %d packages failed", failed, len(pkgs))
	}
	return nil
}

// defaultCache is a directory under the Go build cache named after the
// module's directory, so that worktrees do not overwrite each other's
// binaries (the binaries' build IDs hold their source paths).
func defaultCache(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOCACHE: %w", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	name := strings.NewReplacer("/", "_", ":", "_").Replace(strings.Trim(wd, "/"))
	return filepath.Join(strings.TrimSpace(string(out)), "unitrun", name), nil
}

// listPackages lists the packages matching patterns, printing go test's
// "no test files" line for those without tests, and returns the others.
func listPackages(ctx context.Context, patterns []string) ([]pkg, error) {
	args := append([]string{"list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{len .TestGoFiles}}\t{{len .XTestGoFiles}}"}, patterns...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	var pkgs []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			continue
		}
		if f[2] == "0" && f[3] == "0" {
			fmt.Printf("?   \t%s\t[no test files]\n", f[0])
			continue
		}
		pkgs = append(pkgs, pkg{ImportPath: f[0], Dir: f[1]})
	}
	return pkgs, nil
}

// assignBinaries gives each package its binary's path: cache/i/NAME.test,
// with i the first directory where no other package's binary has that name
// (go test -c -o DIR/ names them after the import path's last element).
// Packages are taken in import path order, so a package keeps its binary
// from run to run.
func assignBinaries(pkgs []pkg, cache string) {
	var taken []map[string]bool
	for i := range pkgs {
		name := path.Base(pkgs[i].ImportPath) + ".test"
		g := 0
		for g < len(taken) && taken[g][name] {
			g++
		}
		if g == len(taken) {
			taken = append(taken, map[string]bool{})
		}
		taken[g][name] = true
		pkgs[i].Binary = filepath.Join(cache, strconv.Itoa(g), name)
	}
}

// build links the test binaries of the packages into dir; go test -c skips
// a binary that is up to date.
func build(ctx context.Context, cfg config, dir string, importPaths []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args := []string{"test", "-c", "-vet=off", "-o", dir + "/"}
	if cfg.ldflags != "" {
		args = append(args, "-ldflags="+cfg.ldflags)
	}
	args = append(args, importPaths...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the test binaries: %w", err)
	}
	return nil
}

// runAll runs every package's binary, cfg.parallel at a time, printing each
// result as it comes, and returns how many failed.
func runAll(ctx context.Context, cfg config, pkgs []pkg, took durations) int {
	verbose := slices.ContainsFunc(cfg.testFlags, func(f string) bool { return f == "-test.v" || f == "-test.v=true" })
	sem := make(chan struct{}, cfg.parallel)
	var mu sync.Mutex
	var wg sync.WaitGroup
	failed := 0
	for _, p := range pkgs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out, d, err := runOne(ctx, p, cfg.testFlags)
			mu.Lock()
			defer mu.Unlock()
			took[p.ImportPath] = d.Seconds()
			if err != nil {
				failed++
				os.Stdout.Write(out)
				fmt.Printf("FAIL\t%s\t%.3fs\n", p.ImportPath, d.Seconds())
				return
			}
			if verbose {
				os.Stdout.Write(out)
			}
			fmt.Printf("ok  \t%s\t%.3fs\n", p.ImportPath, d.Seconds())
		})
	}
	wg.Wait()
	return failed
}

func runOne(ctx context.Context, p pkg, flags []string) ([]byte, time.Duration, error) {
	<-p.built.done
	if p.built.err != nil {
		return []byte(fmt.Sprintf("unitrun: %v\n", p.built.err)), 0, p.built.err
	}
	if _, err := os.Stat(p.Binary); err != nil {
		return []byte(fmt.Sprintf("unitrun: no test binary for %s: %v\n", p.ImportPath, err)), 0, err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, p.Binary, flags...)
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	return out.Bytes(), time.Since(start), err
}

// durations are the seconds each package's binary ran, by import path, as
// the last run measured them (kept in the cache as durations.json).
type durations map[string]float64

// of is a package's last duration; a package not seen yet counts as slow,
// so that a new package is not the one started last.
func (d durations) of(pkg string) float64 {
	if v, ok := d[pkg]; ok {
		return v
	}
	return 1e9
}

func loadDurations(cache string) durations {
	d := durations{}
	if b, err := os.ReadFile(filepath.Join(cache, "durations.json")); err == nil {
		_ = json.Unmarshal(b, &d) // a damaged file only costs the order
	}
	return d
}

func saveDurations(cache string, d durations) {
	if b, err := json.Marshal(d); err == nil {
		_ = os.WriteFile(filepath.Join(cache, "durations.json"), b, 0o644)
	}
}
