package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podproc"
)

// testAgentEnv makes this test binary run an agent (a Config in JSON) until
// SIGTERM, so that tests can kill an agent the hard way.
const testAgentEnv = "DAYOPS_NODEAGENT_TEST_AGENT"

func TestMain(m *testing.M) {
	// The test agents re-execute this test binary as their pod-exec helper.
	if os.Getenv(podproc.HelperEnv) != "" {
		err := podproc.RunHelper()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(127)
	}
	if raw := os.Getenv(testAgentEnv); raw != "" {
		os.Exit(runTestAgentProcess(raw))
	}
	devtest.Main(m)
}

func runTestAgentProcess(raw string) int {
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "test agent config:", err)
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	a, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
