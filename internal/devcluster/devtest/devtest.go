// Package devtest gives tests the shared local stack (Temporal dev server,
// Kubernetes control plane, node agent, PostgreSQL): one stack per `go test`
// run, never one per test.
//
// Use it from TestMain and then per test:
//
//	func TestMain(m *testing.M) { devtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		env := devtest.Get(t) // fresh namespace env.Namespace, deleted at cleanup
//		env.Clientset.CoreV1().Pods(env.Namespace)...
//	}
//
// Contract:
//   - The stack is found through $DAYOPS_DEV_ENV or ROOT/.dayops/dev.env
//     (ROOT: the checkout holding the test's directory). If it is absent or
//     unhealthy, the first Get starts it (bin/temporal and bin/kube must have
//     been built by scripts/build-tools.sh; bin/dayops and bin/dayops-dev,
//     whose `dev agent` is the node agent, are rebuilt) under a file lock, so
//     concurrent test binaries never start two stacks.
//   - A binary stops the stack at exit only if it started it, and only after
//     every other test binary using it has finished (each user holds a shared
//     flock on ROOT/.dayops/devtest.users while it runs).
//   - Under -short (`make unit`) Get skips the test: -short means "only
//     what needs no stack". Otherwise nothing is skipped: when the stack
//     cannot be started, Get fails the test with the reason.
package devtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdkclient "go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/dayops/dayops/internal/devcluster"
	"github.com/dayops/dayops/internal/temporaltls"
	"github.com/dayops/dayops/internal/testutil/pgtest"
)

// Env is the shared stack as one test sees it.
type Env struct {
	// Root is the repository root; BinDir holds kubectl and the tools.
	Root   string
	BinDir string
	// Kubeconfig is the admin kubeconfig; RESTConfig and Clientset are
	// built from it.
	Kubeconfig string
	RESTConfig *rest.Config
	Clientset  *kubernetes.Clientset
	// Namespace was created for this test and is deleted at its cleanup.
	Namespace string
	// TemporalAddress is host:port of the Temporal frontend, TemporalUI
	// the Web UI's URL.
	TemporalAddress string
	TemporalUI      string
	// TemporalTLS are the client certificate, key and CA of a stack whose
	// Temporal requires mutual TLS (server mode); zero otherwise.
	TemporalTLS temporaltls.Files
	// DatabaseURL is the stack's dayops database. Tests that write should
	// use NewDatabase instead.
	DatabaseURL string
}

// shared is the stack of this test binary, resolved on first use.
type shared struct {
	once    sync.Once
	err     error
	env     map[string]string
	root    string
	owned   bool // this binary started the stack
	release func()
	cfg     devcluster.Config
}

var (
	state      shared
	mainCalled bool
)

// Main runs the package's tests, then stops the stack if this binary started
// it (waiting for other test binaries still using it). Call it from TestMain.
func Main(m *testing.M) {
	mainCalled = true
	code := m.Run()
	if err := finish(); err != nil {
		fmt.Fprintln(os.Stderr, "devtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Get returns the shared stack and a fresh namespace for t, starting the
// stack if needed. It fails t when there is no stack, and skips t only under
// -short (`make unit`: the tests that need no stack).
func Get(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("devtest: needs the local stack; skipped under -short")
	}
	if !mainCalled {
		t.Fatal("devtest.Get: call devtest.Main(m) from TestMain first (it stops a stack this binary starts)")
	}
	state.once.Do(func() { state.err = setup() })
	if state.err != nil {
		t.Fatalf("devtest: no local stack: %v", state.err)
	}
	e := &Env{
		Root:            state.root,
		BinDir:          filepath.Join(state.root, "bin"),
		Kubeconfig:      state.env[devcluster.EnvKubeconfig],
		TemporalAddress: state.env[devcluster.EnvTemporalAddress],
		TemporalUI:      state.env[devcluster.EnvTemporalUI],
		TemporalTLS: temporaltls.Files{
			Cert: state.env[temporaltls.EnvCert], Key: state.env[temporaltls.EnvKey],
			CA: state.env[temporaltls.EnvCA], ServerName: state.env[temporaltls.EnvServerName],
		},
		DatabaseURL: state.env[devcluster.EnvDatabaseURL],
	}
	rc, err := devcluster.RESTConfig(e.Kubeconfig)
	if err != nil {
		t.Fatalf("devtest: %v", err)
	}
	rc.QPS, rc.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("devtest: kubernetes client: %v", err)
	}
	e.RESTConfig, e.Clientset = rc, cs
	e.Namespace = createNamespace(t, cs)
	return e
}

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// createNamespace makes "t-<test name>-<random>", waits for its default
// ServiceAccount (the admission plugin rejects Pods before it exists) and
// deletes it at cleanup.
func createNamespace(t testing.TB, cs kubernetes.Interface) string {
	t.Helper()
	base := strings.Trim(nonDNS.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = strings.TrimRight(base[:40], "-")
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := "t-" + base + "-" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"dayops.dev/test": "true"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("devtest: create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		err := cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("devtest: delete namespace %s: %v", name, err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return name
		}
		if time.Now().After(deadline) {
			t.Fatalf("devtest: namespace %s has no default ServiceAccount after 30s (is the controller-manager running?): %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// NewDatabase creates an empty PostgreSQL database for t on the stack's
// server, drops it at cleanup, and returns its URL.
func (e *Env) NewDatabase(t testing.TB) string {
	t.Helper()
	db, err := pgtest.Create(t.Context(), e.DatabaseURL)
	if err != nil {
		t.Fatalf("devtest: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Drop(context.Background()); err != nil {
			t.Errorf("devtest: %v", err)
		}
	})
	return db.URL
}

// TemporalClient dials the stack's Temporal server (namespace "default");
// the client is closed at cleanup.
func (e *Env) TemporalClient(t testing.TB) sdkclient.Client {
	t.Helper()
	tc, err := e.TemporalTLS.Config()
	if err != nil {
		t.Fatalf("devtest: %v", err)
	}
	cl, err := sdkclient.DialContext(t.Context(), sdkclient.Options{
		HostPort:          e.TemporalAddress,
		Logger:            sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		ConnectionOptions: sdkclient.ConnectionOptions{TLS: tc},
	})
	if err != nil {
		t.Fatalf("devtest: dial Temporal at %s: %v", e.TemporalAddress, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Kubectl runs bin/kubectl against the stack (admin kubeconfig) and returns
// its combined output; a non-zero exit fails t.
func (e *Env) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := e.KubectlE(t.Context(), args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// KubectlE is Kubectl returning the error instead of failing.
func (e *Env) KubectlE(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(e.BinDir, "kubectl"), append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// setup finds or starts the stack and registers this binary as a user.
func setup() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	state.root = devcluster.FindRoot(wd)
	state.cfg = devcluster.DefaultConfig(state.root)
	if err := os.MkdirAll(state.cfg.StateDir, 0o755); err != nil {
		return err
	}
	// Register as a user first, so that an owner's teardown waits for us.
	release, err := flock(filepath.Join(state.cfg.StateDir, "devtest.users"), syscall.LOCK_SH)
	if err != nil {
		return err
	}
	state.release = release

	envPath := os.Getenv("DAYOPS_DEV_ENV")
	if envPath != "" {
		// An explicit stack: use it as it is, never start or stop it.
		env, err := devcluster.ReadEnvFile(envPath)
		if err != nil {
			return fmt.Errorf("DAYOPS_DEV_ENV: %w", err)
		}
		state.env = env
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if env, err := devcluster.ReadEnvFile(state.cfg.EnvPath()); err == nil && devcluster.Running(ctx, state.cfg) {
		state.env = env
		return nil
	}
	// Start it under an exclusive lock; re-check once we hold it, another
	// binary may have started it meanwhile.
	unlock, err := flock(filepath.Join(state.cfg.StateDir, "devtest.start"), syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if env, err := devcluster.ReadEnvFile(state.cfg.EnvPath()); err == nil && devcluster.Running(ctx, state.cfg) {
		state.env = env
		return nil
	}
	for _, tool := range []string{"temporal", "kube"} {
		if _, err := os.Stat(filepath.Join(state.cfg.BinDir, tool)); err != nil {
			return fmt.Errorf("bin/%s is missing: build the tools first with `make tools` (scripts/build-tools.sh, about 10 min cold) or run `make test`", tool)
		}
	}
	// bin/dayops-dev runs the node agent; bin/dayops is the product binary
	// the agent hands to Pods of the dayops image.
	build := exec.CommandContext(ctx, "go", "build", "-o", state.cfg.BinDir+string(filepath.Separator), "./cmd/dayops", "./cmd/dayops-dev")
	build.Dir = state.root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build bin/dayops and bin/dayops-dev: %w\n%s", err, out)
	}
	cfg := state.cfg
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fmt.Fprintln(os.Stderr, "devtest: starting the local stack (no running one found)")
	st, err := devcluster.Up(ctx, cfg)
	if err != nil {
		return err
	}
	// Own it only when this binary started all of it; a repaired stack
	// (say, a restarted agent) belongs to whoever started the rest.
	state.owned = len(st.Started) > 0 && len(st.Started) == len(enabledComponents(cfg))
	env, err := devcluster.ReadEnvFile(cfg.EnvPath())
	if err != nil {
		return err
	}
	state.env = env
	return nil
}

func enabledComponents(cfg devcluster.Config) []string {
	sts, err := devcluster.Status(context.Background(), cfg)
	if err != nil {
		return nil
	}
	names := make([]string, len(sts))
	for i, s := range sts {
		names[i] = s.Name
	}
	return names
}

// finish releases this binary's use of the stack and, if it started the
// stack, waits for all other users, then stops it.
func finish() error {
	if state.release == nil {
		return nil
	}
	state.release()
	if !state.owned {
		return nil
	}
	unlock, err := flock(filepath.Join(state.cfg.StateDir, "devtest.users"), syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := state.cfg
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := devcluster.Down(ctx, cfg, devcluster.DownOptions{}); err != nil {
		return fmt.Errorf("stop the stack this test binary started: %w", err)
	}
	return nil
}

// flock blocks until it holds the lock; the kernel drops it if we die.
func flock(path string, how int) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
