package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/devcluster"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/server"
	"github.com/dayops/dayops/internal/workflows"
)

func newRunCmd() *cobra.Command {
	return stackCmd("run", "All-in-one local run: `dev up` (unless up), then the dayops API and worker in the foreground, and a demo cluster (DAYOPS_DEMO=0 skips it); Ctrl-C stops everything", func(cmd *cobra.Command, cfg devcluster.Config) error {
		ctx := cmd.Context()
		start := time.Now()
		st, err := devcluster.Up(ctx, cfg)
		if err != nil {
			return err
		}
		if !st.AlreadyRunning() {
			slog.Info("local stack ready", "after", time.Since(start).Round(100*time.Millisecond))
			// This run started the stack: stop it again on the way out,
			// even though ctx is cancelled by then.
			defer func() {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
				defer cancel()
				if err := devcluster.Down(dctx, cfg, devcluster.DownOptions{}); err != nil {
					slog.Error("dev down", "err", err)
				}
			}()
		}
		tok, err := devcluster.APITokens(cfg)
		if err != nil {
			return err
		}
		// Checkpoints are signed by default: the local stack keeps its key
		// pair in the state directory (verify with .dayops/audit-signing.pub).
		auditKey, _, err := eventstore.EnsureKeyPair(cfg.StateDir)
		if err != nil {
			return err
		}
		scfg := server.Config{
			AuditSigningKey: cmp.Or(os.Getenv(eventstore.EnvSigningKey), auditKey),
			Roles:           []string{"api", "worker"}, APIURL: st.APIURL, TaskQueue: workflows.TaskQueue,
			TemporalAddress: st.TemporalAddress, TemporalNamespace: "default", TemporalUI: st.TemporalUI,
			TemporalTLS: st.TemporalTLS,
			Kubeconfig:  st.Kubeconfig, DatabaseURL: st.DatabaseURL, Tokens: tok.APITokensSpec(),
			// Backups go where DAYOPS_BACKUP_STORE says, else under the stack's state.
			BackupStore: cmp.Or(os.Getenv(server.EnvBackupStore), filepath.Join(cfg.StateDir, "backups")),
			// The stack's node agent maps dayops:dev to this binary.
			InstanceImage: cmp.Or(os.Getenv("DAYOPS_INSTANCE_IMAGE"), server.DefaultInstanceImage),
			// On the local stack hooks are served on this host; the API
			// server's endpoint stays refused.
			HookAllow: cmp.Or(os.Getenv("DAYOPS_HOOK_ALLOW"), "127.0.0.1"),
			// API and worker share this process: a key for this run signs
			// and checks their signals and updates.
			CallKeys: cmp.Or(os.Getenv(server.EnvCallKeys), callKey()),
		}
		out := cmd.OutOrStdout()
		return server.Run(ctx, scfg, slog.Default(), func(addr string) {
			fmt.Fprint(out, st)
			fmt.Fprintf(out, "dayops API:       http://%s (OpenAPI /openapi.json, metrics /metrics)\n", addr)
			fmt.Fprintf(out, "Tokens:           DAYOPS_TOKEN (operator) and DAYOPS_AUDITOR_TOKEN in %s\n", st.EnvFile)
			fmt.Fprintf(out, "Try:              source %s && bin/dayops cluster list\n", st.EnvFile)
			fmt.Fprintln(out, "dayops API and worker running; Ctrl-C stops them"+map[bool]string{true: "", false: " and the local stack"}[st.AlreadyRunning()])
			if os.Getenv("DAYOPS_DEMO") != "0" {
				go demo(ctx, out, "http://"+addr, tok.Operator)
			}
		})
	})
}

// demo creates a small cluster so that a new user sees a real operation in
// the Temporal UI and the CLI right away.
func demo(ctx context.Context, out io.Writer, api, token string) {
	c := &cli.Client{Base: api, Token: token, HTTP: &http.Client{Timeout: time.Minute}}
	q := url.Values{"namespace": {"default"}}
	var existing httpapi.ClusterDetail
	err := c.Do(ctx, http.MethodGet, "/v1/clusters/demo", q, nil, &existing)
	var apiErr *cli.APIError
	switch {
	case err == nil:
		fmt.Fprintln(out, "Demo cluster:     default/demo exists: bin/dayops cluster get demo")
		return
	case !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound:
		slog.Warn("demo cluster: cannot look it up", "err", err)
		return
	}
	var acc httpapi.OperationAccepted
	body := map[string]any{"name": "demo", "namespace": "default", "shards": 3, "replicasPerShard": 1,
		"reason": "demo cluster created by `make run` (DAYOPS_DEMO=0 skips it)"}
	if err := c.Do(ctx, http.MethodPost, "/v1/clusters", nil, body, &acc); err != nil {
		slog.Warn("demo cluster: not created", "err", err)
		return
	}
	fmt.Fprintf(out, "Demo cluster:     creating default/demo (3 shards x 1 replica), operation %s\n", acc.OperationID)
	fmt.Fprintf(out, "                  follow it: bin/dayops op watch %s\n", acc.OperationID)
	if acc.TemporalURL != "" {
		fmt.Fprintf(out, "                  Temporal UI: %s\n", acc.TemporalURL)
	}
}

// callKey returns a random DAYOPS_CALL_KEYS value for one run.
func callKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
