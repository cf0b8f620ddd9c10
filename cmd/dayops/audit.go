package main

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
)

// defaultDatabaseURL is used when neither --database-url nor DATABASE_URL is set.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/dayops?sslmode=disable"

// Environment variables of the audit commands.
const (
	envDatabaseURL = "DATABASE_URL"
	envPublicKey   = "DAYOPS_AUDIT_PUBLIC_KEY" // path to (or value of) the checkpoint public key
	// envSignerBackupStore is where `audit signer` copies checkpoints.
	envSignerBackupStore = "DAYOPS_AUDIT_BACKUP_STORE"
)

// newAuditCmd is `dayops audit`: read, verify and replay the audit log.
func newAuditCmd() *cobra.Command {
	var dbURL string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read, verify and replay the audit log (event store in PostgreSQL)",
	}
	cmd.PersistentFlags().StringVar(&dbURL, "database-url", "", "PostgreSQL URL of the event store (env "+envDatabaseURL+"; default "+defaultDatabaseURL+")")
	open := func(ctx context.Context) (*eventstore.Store, func(), error) {
		u := dbURL
		if u == "" {
			u = os.Getenv(envDatabaseURL)
		}
		if u == "" {
			u = defaultDatabaseURL
		}
		return openStore(ctx, u, eventstore.Options{Upcasters: audit.Upcasters(), Logger: slog.Default()})
	}
	cmd.AddCommand(newAuditLogCmd(open), newAuditVerifyCmd(open), newAuditStateCmd(open),
		newAuditCheckpointCmd(open), newAuditKeygenCmd(), newAuditProjectCmd(open),
		newAuditSignerCmd(open), newAuditGrantCmd(open))
	return cmd
}

type storeOpener func(ctx context.Context) (*eventstore.Store, func(), error)

func openStore(ctx context.Context, url string, opts eventstore.Options) (*eventstore.Store, func(), error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the event store: %w", err)
	}
	s, err := eventstore.Open(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("open the event store: %w", err)
	}
	return s, pool.Close, nil
}

// parseInstant reads RFC 3339 or a duration meaning that long before now.
func parseInstant(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time or a duration like 1h", flag, s)
}

func newAuditLogCmd(open storeOpener) *cobra.Command {
	var (
		f                    eventstore.Filter
		since, until, output string
	)
	cmd := &cobra.Command{
		Use:   "log",
		Short: "List audit events (table or JSON lines), filtered and paged",
		Example: `  dayops audit log --cluster orders --since 24h
  dayops audit log --operation op-123 --output json
  dayops audit log --type StepFailed --limit 50 --after 1200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			var err error
			var errs []error
			if f.Since, err = parseInstant("since", since, now); err != nil {
				errs = append(errs, err)
			}
			if f.Until, err = parseInstant("until", until, now); err != nil {
				errs = append(errs, err)
			}
			if output != "table" && output != "json" {
				errs = append(errs, fmt.Errorf("--output %q: want table or json", output))
			}
			if f.Limit < 0 {
				errs = append(errs, fmt.Errorf("--limit %d: want >= 0 (0: no limit)", f.Limit))
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			ctx := cmd.Context()
			s, closeFn, err := open(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			f.WithHashes = output == "json"
			return printLog(ctx, s, f, output, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Cluster, "cluster", "", "only events about this Redis cluster (its stream and its operations)")
	fl.StringVar(&f.Operation, "operation", "", "only events of this operation")
	fl.StringVar(&since, "since", "", "recorded at or after: RFC 3339 time or duration ago (1h)")
	fl.StringVar(&until, "until", "", "recorded at or before: RFC 3339 time or duration ago")
	fl.StringSliceVar(&f.Types, "type", nil, "only these event types (repeat or comma-separate)")
	fl.IntVar(&f.Limit, "limit", 100, "at most this many events (0: all)")
	fl.Int64Var(&f.After, "after", 0, "page: events after this position")
	fl.BoolVar(&f.Backward, "reverse", false, "newest first")
	fl.StringVarP(&output, "output", "o", "table", "table or json (one JSON object per line)")
	return cmd
}

// logLine is the JSON-lines form of one event.
type logLine struct {
	Position      int64           `json:"position"`
	ID            string          `json:"id"`
	Stream        string          `json:"stream"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Actor         string          `json:"actor"`
	Reason        string          `json:"reason,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	CausationID   string          `json:"causation_id,omitempty"`
	Cluster       string          `json:"cluster,omitempty"`
	Payload       json.RawMessage `json:"payload"`
	Hash          string          `json:"hash,omitempty"`
}

func printLog(ctx context.Context, s *eventstore.Store, f eventstore.Filter, output string, out, errOut io.Writer) error {
	var tw *tabwriter.Writer
	enc := json.NewEncoder(out)
	if output == "table" {
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "POSITION\tRECORDED (UTC)\tSTREAM\tVER\tTYPE\tACTOR\tOPERATION\tREASON")
	}
	n, last := 0, int64(0)
	err := s.Scan(ctx, f, func(e eventstore.Event) error {
		n++
		last = e.Position
		if tw != nil {
			_, err := fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", e.Position,
				e.RecordedAt.UTC().Format("2006-01-02 15:04:05.000"), e.Stream, e.Version, e.Type,
				e.Metadata.Actor, e.Metadata.CorrelationID, oneLine(e.Metadata.Reason, 40))
			return err
		}
		return enc.Encode(logLine{Position: e.Position, ID: e.ID.String(), Stream: e.Stream, Version: e.Version,
			Type: e.Type, SchemaVersion: e.SchemaVersion, RecordedAt: e.RecordedAt.UTC(), Actor: e.Metadata.Actor,
			Reason: e.Metadata.Reason, CorrelationID: e.Metadata.CorrelationID, CausationID: e.Metadata.CausationID,
			Cluster: e.Metadata.Cluster, Payload: e.Payload, Hash: fmt.Sprintf("%x", e.Hash)})
	})
	if tw != nil {
		if ferr := tw.Flush(); err == nil {
			err = ferr
		}
	}
	if err != nil {
		return err
	}
	if f.Limit > 0 && n == f.Limit && !f.Backward {
		fmt.Fprintf(errOut, "more events may follow: add --after %d\n", last)
	}
	return nil
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		return s[:max-1] + "…"
	}
	return s
}

func newAuditVerifyCmd(open storeOpener) *cobra.Command {
	var (
		pubPath, backupURL string
		allowNone          bool
		maxAge             time.Duration
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the hash chain and check the signed checkpoints; exit 2 naming the first broken event",
		Long: `Recompute the hash chain and check the signed checkpoints; exit 2 naming the first problem.

It fails when an event was edited or removed, when a checkpoint is missing (gap in
the checkpoints' own sequence), lies beyond the log's end (tail deleted), does not
match the recomputed chain or is not signed by --public-key, when no checkpoint exists
(unless --allow-no-checkpoint), when the newest checkpoint is older than
--max-checkpoint-age, and when a checkpoint copied to --backup-store is not in the
database unchanged.`,
		Example: `  dayops audit verify --public-key audit-signing.pub --max-checkpoint-age 15m
  dayops audit verify --public-key audit-signing.pub --backup-store s3://audit/dayops?endpoint=minio:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var keys []ed25519.PublicKey
			raw, err := eventstore.LoadKeyFile(pubPath, envPublicKey)
			if err != nil {
				return fmt.Errorf("--public-key: %w", err)
			}
			if raw != nil {
				k, err := eventstore.ParsePublicKey(raw)
				if err != nil {
					return fmt.Errorf("--public-key: %w", err)
				}
				keys = append(keys, k)
			}
			if maxAge < 0 {
				return fmt.Errorf("--max-checkpoint-age %s: want >= 0 (0: no bound)", maxAge)
			}
			ctx := cmd.Context()
			opts := eventstore.VerifyOptions{PublicKeys: keys, AllowNoCheckpoint: allowNone, MaxCheckpointAge: maxAge,
				Progress: func(p int64) { slog.Default().Debug("verify progress", "position", p) }}
			if backupURL != "" {
				bs, err := backupstore.Open(ctx, backupURL)
				if err != nil {
					return fmt.Errorf("--backup-store: %w", err)
				}
				if opts.External, err = audit.ReadCheckpointCopies(ctx, bs); err != nil {
					return fmt.Errorf("--backup-store: %w", err)
				}
			}
			s, closeFn, err := open(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			out := cmd.OutOrStdout()
			start := time.Now()
			rep, err := s.Verify(ctx, opts)
			if err != nil {
				return err // *eventstore.ChainError exits 2 through main
			}
			fmt.Fprintf(out, "chain intact: %d events, head position %d hash %s (%.1fs)\n",
				rep.Events, rep.HeadPosition, rep.HeadHash, time.Since(start).Seconds())
			switch {
			case rep.Checkpoints == 0:
				fmt.Fprintln(out, "checkpoints: none stored yet: nothing is signed (allowed by --allow-no-checkpoint)")
			case len(keys) == 0:
				fmt.Fprintf(out, "checkpoints: %d match the chain; signatures NOT checked (no --public-key): a rewrite of the whole log would go unnoticed\n", rep.Checkpoints)
			default:
				fmt.Fprintf(out, "checkpoints: %d, all signed by key %s and matching the chain; last signed position %d (%d events after it are chained but not yet signed)\n",
					rep.SignaturesChecked, eventstore.KeyID(keys[0]), rep.LastSignedCheckpoint, rep.HeadPosition-rep.LastSignedCheckpoint)
			}
			if rep.Checkpoints > 0 {
				fmt.Fprintf(out, "newest checkpoint: %d, signed %s ago\n", rep.NewestCheckpoint.Seq, time.Since(rep.NewestCheckpoint.SignedAt).Round(time.Second))
			}
			if backupURL != "" {
				fmt.Fprintf(out, "backup store: %d checkpoint copies, all in the database unchanged\n", rep.ExternalChecked)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&pubPath, "public-key", "", "Ed25519 public key (PEM or base64) that signs checkpoints (env "+envPublicKey+")")
	fl.BoolVar(&allowNone, "allow-no-checkpoint", false, "pass a log that has no checkpoint at all (a new install); otherwise that fails")
	fl.DurationVar(&maxAge, "max-checkpoint-age", 0, "fail when the newest checkpoint was signed longer ago than this (0: no bound)")
	fl.StringVar(&backupURL, "backup-store", "", "backup store holding checkpoint copies (audit/checkpoints/); each must be in the database unchanged")
	return cmd
}

func newAuditSignerCmd(open storeOpener) *cobra.Command {
	var (
		keyPath, backupURL string
		opts               eventstore.SignerOptions
	)
	cmd := &cobra.Command{
		Use:   "signer",
		Short: "Sign the chain's head periodically with the checkpoint key, apart from the writers; copy checkpoints to a backup store",
		Long: `Run the checkpoint signer until interrupted. Run it with its own key and its own database
role (granted with ` + "`dayops audit grant --signer ROLE`" + `: SELECT on events, SELECT and INSERT on
checkpoints), so that the API and the worker never hold the key. With --backup-store every
checkpoint is also copied to audit/checkpoints/<seq>.json there, where verify --backup-store
compares them with the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			signer, err := eventstore.LoadSigner(keyPath)
			if err != nil {
				return fmt.Errorf("--signing-key: %w", err)
			}
			if signer == nil {
				return fmt.Errorf("--signing-key or %s is required", eventstore.EnvSigningKey)
			}
			ctx := cmd.Context()
			s, closeFn, err := open(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			backupURL = cmp.Or(backupURL, os.Getenv(envSignerBackupStore))
			if backupURL != "" {
				bs, err := backupstore.Open(ctx, backupURL)
				if err != nil {
					return fmt.Errorf("--backup-store: %w", err)
				}
				opts.AfterSign = func(ctx context.Context) error {
					_, err := audit.CopyCheckpoints(ctx, s, bs)
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit signer: key %s, every %s\n", eventstore.KeyID(signer.Public()), cmp.Or(opts.Interval, eventstore.DefaultSignInterval))
			return s.RunSigner(ctx, signer, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&keyPath, "signing-key", "", "Ed25519 private key (PEM or base64) (env "+eventstore.EnvSigningKey+")")
	fl.DurationVar(&opts.Interval, "interval", eventstore.DefaultSignInterval, "how often to look at the head and sign it if it moved")
	fl.DurationVar(&opts.ResignAfter, "resign-after", eventstore.DefaultResignAfter, "re-sign an idle head once its checkpoint is this old (keep below verify's --max-checkpoint-age)")
	fl.StringVar(&backupURL, "backup-store", "", "copy every checkpoint to this backup store (an absolute path, file:// or s3:// URL, as DAYOPS_BACKUP_STORE) (env "+envSignerBackupStore+")")
	return cmd
}

func newAuditGrantCmd(open storeOpener) *cobra.Command {
	var writers, signers []string
	cmd := &cobra.Command{
		Use:   "grant",
		Short: "Grant database roles the writer's (INSERT, SELECT) or the signer's privileges on the audit log; run as the tables' owner",
		Long: `Run as the role that owns the audit tables (it also applies pending schema migrations,
which writers and signers cannot). A writer (the API and the worker) gets INSERT and SELECT
on the event log, SELECT on checkpoints and the projection tables; a signer gets SELECT on
the events and INSERT, SELECT on checkpoints. Neither may UPDATE, DELETE or TRUNCATE the log.`,
		Example: `  dayops audit grant --writer dayops --signer dayops_signer`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(writers)+len(signers) == 0 {
				return errors.New("name at least one --writer or --signer role")
			}
			ctx := cmd.Context()
			s, closeFn, err := open(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			if len(writers) > 0 {
				// The API maintains the projections: make sure their tables exist.
				if _, err := audit.NewProjector(ctx, s); err != nil {
					return err
				}
			}
			for _, r := range writers {
				if err := eventstore.GrantWriter(ctx, s.Pool(), r); err != nil {
					return err
				}
				if err := audit.GrantProjections(ctx, s.Pool(), r); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: writer (INSERT, SELECT on events; SELECT on checkpoints; the projection tables)\n", r)
			}
			for _, r := range signers {
				if err := eventstore.GrantSigner(ctx, s.Pool(), r); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: signer (SELECT on events; INSERT, SELECT on checkpoints)\n", r)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&writers, "writer", nil, "role of the API and the worker")
	cmd.Flags().StringSliceVar(&signers, "signer", nil, "role of the checkpoint signer (and of a writer that signs in-process)")
	return cmd
}

func newAuditStateCmd(open storeOpener) *cobra.Command {
	var cluster, asOf, output string
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Replay a cluster's state (topology, last operation, timelines) as of a time or position",
		Example: `  dayops audit state --cluster orders
  dayops audit state --cluster orders --as-of 2026-11-20T08:00:00Z
  dayops audit state --cluster orders --as-of 1234 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			if cluster == "" {
				errs = append(errs, errors.New("--cluster is required"))
			}
			bound, err := audit.ParseBound(asOf, time.Now())
			if err != nil {
				errs = append(errs, fmt.Errorf("--as-of: %w", err))
			}
			if output != "text" && output != "json" {
				errs = append(errs, fmt.Errorf("--output %q: want text or json", output))
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			ctx := cmd.Context()
			s, closeFn, err := open(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			c, tls, err := audit.ClusterAsOf(ctx, s, cluster, bound)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					AsOf       string              `json:"as_of"`
					Cluster    *audit.ClusterState `json:"cluster"`
					Operations []*audit.Timeline   `json:"operations"`
				}{bound.String(), c, tls})
			}
			return printState(out, bound, c, tls)
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "Redis cluster name (required)")
	cmd.Flags().StringVar(&asOf, "as-of", "", "RFC 3339 time, duration ago (2h), or global position; default now")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func printState(out io.Writer, bound audit.Bound, c *audit.ClusterState, tls []*audit.Timeline) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	status := "exists"
	if c.Deleted {
		status = "deleted"
	}
	fmt.Fprintf(tw, "cluster %s (%s) as of %s, last event position %d\n", c.Name, status, bound, c.Position)
	fmt.Fprintf(tw, "redis %s, image %s, %d slots assigned\n", c.RedisVersion, c.Image, c.SlotCount())
	if op := c.LastOperation; op != nil {
		fmt.Fprintf(tw, "last operation: %s %s by %s: %s %s\n", op.ID, op.Kind, op.Actor, op.Status, op.Error)
	}
	fmt.Fprintln(tw, "\nSHARD\tSLOTS\tORDINAL\tROLE\tZONE\tPOD\tVERSION")
	for _, sh := range sortedKeys(c.Shards) {
		var ranges []string
		for _, r := range c.Shards[sh].Slots {
			ranges = append(ranges, fmt.Sprintf("%d-%d", r.Start, r.End))
		}
		first := true
		for _, o := range sortedKeys(c.Instances) {
			in := c.Instances[o]
			if in.Shard != sh {
				continue
			}
			sl := ""
			if first {
				sl = strings.Join(ranges, ",")
			}
			first = false
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\n", sh, sl, o, in.Role, in.Zone, in.Pod, in.RedisVersion)
		}
		if first {
			fmt.Fprintf(tw, "%d\t%s\t-\t\t\t\t\n", sh, strings.Join(ranges, ","))
		}
	}
	if len(tls) > 0 {
		fmt.Fprintln(tw, "\nOPERATION\tKIND\tSTATUS\tACTOR\tREQUESTED\tENDED\tSTEPS")
		for _, t := range tls {
			done := 0
			for _, st := range t.Steps {
				if st.Outcome == audit.StatusCompleted {
					done++
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\n", t.OperationID, t.Kind, t.Status, t.Actor,
				fmtTime(t.RequestedAt), fmtTime(t.EndedAt), done, len(t.Steps))
		}
	}
	return tw.Flush()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func sortedKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func newAuditCheckpointCmd(open storeOpener) *cobra.Command {
	var keyPath string
	cmd := &cobra.Command{
		Use:   "checkpoint",
		Short: "Sign the head of the chain now with the checkpoint key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			signer, err := eventstore.LoadSigner(keyPath)
			if err != nil {
				return fmt.Errorf("--signing-key: %w", err)
			}
			if signer == nil {
				return fmt.Errorf("--signing-key or %s is required", eventstore.EnvSigningKey)
			}
			ctx := cmd.Context()
			s, closeFn, err := open(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			s = s.WithSigner(signer)
			c, ok, err := s.Checkpoint(ctx)
			if err != nil {
				return err
			}
			if !ok {
				fmt.Fprintln(cmd.OutOrStdout(), "the log is empty: nothing to sign")
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "checkpoint: position %d hash %x signed by %s at %s\n",
				c.Position, c.Hash, c.KeyID, c.SignedAt.UTC().Format(time.RFC3339Nano))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyPath, "signing-key", "", "Ed25519 private key (PEM or base64) (env "+eventstore.EnvSigningKey+")")
	return cmd
}

func newAuditKeygenCmd() *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Write a new Ed25519 checkpoint key pair: PREFIX.key (private, 0600) and PREFIX.pub",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			priv, pub, err := eventstore.GenerateKey()
			if err != nil {
				return err
			}
			if err := os.WriteFile(prefix+".key", priv, 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(prefix+".pub", pub, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s.key and %s.pub\n", prefix, prefix)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "out", "dayops-audit", "file name prefix")
	return cmd
}

func newAuditProjectCmd(open storeOpener) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "project",
		Short: "Bring the projection tables (cluster state, timelines) up to date; --follow keeps them so",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, closeFn, err := open(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			pj, err := audit.NewProjector(ctx, s)
			if err != nil {
				return err
			}
			start := time.Now()
			pos, err := pj.CatchUp(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "projections at position %d (%.1fs)\n", pos, time.Since(start).Seconds())
			if !follow {
				return nil
			}
			err = pj.Run(ctx, eventstore.SubscribeOptions{})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep following the log until interrupted")
	return cmd
}
