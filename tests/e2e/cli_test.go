package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/testutil/dayopstest"
	"github.com/spf13/cobra"
)

// runCLI runs a dayops CLI verb in-process, as a user would type it.
func runCLI(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(t.Context())
	return out.String() + errOut.String(), err
}

// TestCLI drives the cluster and op verbs against the real API and stack.
func TestCLI(t *testing.T) {
	env := devtest.Get(t)
	d := dayopstest.Start(t, env, dayopstest.Options{})
	t.Setenv("DAYOPS_API", d.URL)
	t.Setenv("DAYOPS_TOKEN", dayopstest.OperatorToken)
	ns := env.Namespace

	out, err := runCLI(t, cli.ClusterCmd(), "create", "clitest", "-n", ns, "--shards", "3", "--replicas", "0", "--persistence", "none", "--dry-run")
	if err != nil || !strings.Contains(out, "Dry run (nothing started)") {
		t.Fatalf("create --dry-run: %v\n%s", err, out)
	}
	out, err = runCLI(t, cli.ClusterCmd(), "create", "clitest", "-n", ns, "--shards", "3", "--replicas", "0", "--persistence", "none",
		"--reason", "cli test", "--wait", "-o", "json")
	if err != nil {
		t.Fatalf("create --wait: %v\n%s", err, out)
	}
	var op httpapi.Operation
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &op); err != nil || op.Status != "Completed" {
		t.Fatalf("create --wait -o json printed %q (%v)", out, err)
	}

	out, err = runCLI(t, cli.ClusterCmd(), "get", "clitest", "-n", ns)
	if err != nil || strings.Count(out, "primary") != 3 || !strings.Contains(out, "zone-") || !strings.Contains(out, "healthy") {
		t.Fatalf("get: %v\n%s", err, out)
	}
	out, err = runCLI(t, cli.ClusterCmd(), "list", "-n", ns)
	if err != nil || !strings.Contains(out, "clitest") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = runCLI(t, cli.ClusterCmd(), "credentials", "clitest", "-n", ns, "-o", "json")
	if err != nil || !strings.Contains(out, `"password"`) {
		t.Fatalf("credentials: %v\n%s", err, out)
	}

	// Bad input: a clear message naming the field, a non-zero exit, nothing started.
	out, err = runCLI(t, cli.ClusterCmd(), "scale", "clitest", "-n", ns, "--shards", "3")
	var apiErr *cli.APIError
	if !errors.As(err, &apiErr) || apiErr.ExitCode() == 0 || !strings.Contains(err.Error(), "shards") || !strings.Contains(err.Error(), "already has 3 shards") {
		t.Fatalf("scale to the same count: want an error naming shards, got %v\n%s", err, out)
	}
	if _, err = runCLI(t, cli.ClusterCmd(), "scale", "clitest", "-n", ns); err == nil {
		t.Fatal("scale without --shards or --replicas must fail")
	}

	out, err = runCLI(t, cli.OpCmd(), "get", op.OperationID)
	if err != nil || !strings.Contains(out, "Completed") || !strings.Contains(out, "create") {
		t.Fatalf("op get: %v\n%s", err, out)
	}
	out, err = runCLI(t, cli.ClusterCmd(), "delete", "clitest", "-n", ns, "--delete-volumes", "--wait")
	if err != nil || !strings.Contains(out, "Completed") {
		t.Fatalf("delete --wait: %v\n%s", err, out)
	}
}
