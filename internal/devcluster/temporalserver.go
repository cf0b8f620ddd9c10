package devcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"
	"sigs.k8s.io/yaml"

	"github.com/dayops/dayops/internal/atomicfile"
	"github.com/dayops/dayops/internal/devcluster/devproc"
	"github.com/dayops/dayops/internal/devcluster/hostsetup"
	"github.com/dayops/dayops/internal/devcluster/stackconfig"
	"github.com/dayops/dayops/internal/searchattr"
)

// temporalRetention is how long the server mode keeps closed workflows.
const temporalRetention = 72 * time.Hour

var (
	temporalSchemaMain       = "postgresql/v12/temporal"
	temporalSchemaVisibility = "postgresql/v12/visibility"
)

// prepareTemporalServer creates the server mode's databases, sets up or
// updates their schema with Temporal's own SQL tool (the schema is the one
// embedded in bin/temporal-sql-tool, so it always matches the server's
// version), and writes the server's config. Every step is idempotent.
func prepareTemporalServer(ctx context.Context, c Config) error {
	cc, err := pgx.ParseConfig(c.DatabaseURL)
	if err != nil {
		return fmt.Errorf("parse database URL: %w", err)
	}
	mainDB, visDB := c.TemporalDatabases()
	for _, db := range []struct{ name, schema string }{{mainDB, temporalSchemaMain}, {visDB, temporalSchemaVisibility}} {
		u, err := withDatabase(c.DatabaseURL, db.name)
		if err != nil {
			return err
		}
		if err := hostsetup.EnsureDatabase(ctx, u); err != nil {
			return err
		}
		// setup-schema -v 0.0 only makes the version tables when they are
		// missing (it leaves a later version alone); update-schema then
		// applies the versions above the database's.
		for _, args := range [][]string{
			{"setup-schema", "-v", "0.0"},
			{"update-schema", "--schema-name", db.schema},
		} {
			if err := runSQLTool(ctx, c, cc, db.name, args...); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(c.TemporalServerDir(), "config"), 0o755); err != nil {
		return fmt.Errorf("create temporal server config dir: %w", err)
	}
	dyn, err := yaml.Marshal(c.TemporalDynamicConfig())
	if err != nil {
		return fmt.Errorf("encode temporal dynamic config: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(c.TemporalServerDir(), "dynamicconfig.yaml"), dyn, 0o644); err != nil {
		return err
	}
	// 0600: the config may hold the database password.
	conf, err := yaml.Marshal(c.TemporalServerConfig(cc))
	if err != nil {
		return fmt.Errorf("encode temporal server config: %w", err)
	}
	return atomicfile.Write(filepath.Join(c.TemporalServerDir(), "config", "dayops.yaml"), conf, 0o600)
}

// runSQLTool runs bin/temporal-sql-tool against db, its output appended to
// STATE/logs/temporal-sql-tool.log. The password travels in SQL_PASSWORD,
// not on the command line.
func runSQLTool(ctx context.Context, c Config, cc *pgx.ConnConfig, db string, args ...string) error {
	logPath := c.LogPath("temporal-sql-tool")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	full := append([]string{"--plugin", "postgres12_pgx", "--endpoint", cc.Host, "--port", strconv.Itoa(int(cc.Port)),
		"--user", cc.User, "--database", db}, args...)
	fmt.Fprintf(logf, "\n==== %s dayops-dev: temporal-sql-tool %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(full, " "))
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "temporal-sql-tool"), full...)
	cmd.Env = append(os.Environ(), "SQL_PASSWORD="+cc.Password)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("temporal-sql-tool %s on %s: %w; last lines of %s:\n%s", args[0], db, err, logPath, devproc.Tail(logPath, 15))
	}
	return nil
}

// withDatabase returns url with its database replaced by name.
func withDatabase(raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// dialTemporal dials the stack's frontend, over mutual TLS in server mode
// (with the admin API key under TemporalAuth).
func dialTemporal(ctx context.Context, c Config, namespace string) (sdkclient.Client, error) {
	tc, err := c.TemporalTLS().Config()
	if err != nil {
		return nil, err
	}
	opts := sdkclient.Options{
		HostPort:          c.TemporalAddr(),
		Namespace:         namespace,
		Logger:            sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
		ConnectionOptions: sdkclient.ConnectionOptions{TLS: tc},
	}
	if c.TemporalAuth != nil {
		opts.Credentials = sdkclient.NewAPIKeyStaticCredentials(c.TemporalAuth.AdminAPIKey)
	}
	cl, err := sdkclient.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("dial temporal: %w", err)
	}
	return cl, nil
}

// probeTemporalServer checks the frontend's health over mutual TLS.
func probeTemporalServer(ctx context.Context, c Config, _ devproc.Record) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cl, err := dialTemporal(ctx, c, stackconfig.TemporalNamespace)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.CheckHealth(ctx, &sdkclient.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal health: %w", err)
	}
	return nil
}

// setupTemporalServer registers stackconfig.TemporalNamespace and dayops' search
// attributes in it, and waits until both are visible, retrying while the
// services finish joining. Both steps accept "already there".
func setupTemporalServer(ctx context.Context, c Config) error {
	ctx, cancel := context.WithTimeout(ctx, c.StartTimeout)
	defer cancel()
	var last error
	for {
		if last = registerTemporalNamespace(ctx, c); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("register Temporal namespace %q and search attributes: %w", stackconfig.TemporalNamespace, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func registerTemporalNamespace(ctx context.Context, c Config) error {
	cl, err := dialTemporal(ctx, c, stackconfig.TemporalNamespace)
	if err != nil {
		return err
	}
	defer cl.Close()
	ws := cl.WorkflowService()
	_, err = ws.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: stackconfig.TemporalNamespace})
	var notFound *serviceerror.NamespaceNotFound
	if errors.As(err, &notFound) {
		_, err = ws.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        stackconfig.TemporalNamespace,
			Description:                      "dayops (registered by dayops-dev dev up)",
			WorkflowExecutionRetentionPeriod: durationpb.New(temporalRetention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register namespace: %w", err)
		}
		// Visible once the frontend's namespace cache has refreshed.
		return fmt.Errorf("namespace %q registered, not yet visible", stackconfig.TemporalNamespace)
	}
	if err != nil {
		return fmt.Errorf("describe namespace: %w", err)
	}
	added, err := searchattr.Register(ctx, cl.OperatorService(), stackconfig.TemporalNamespace)
	if err != nil || len(added) == 0 {
		return err
	}
	// Checked again on the next round.
	return fmt.Errorf("search attributes %v added, not yet listed", added)
}
