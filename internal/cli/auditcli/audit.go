// Package auditcli is `dayops audit`: the reading verbs (log, verify,
// state) answered by the API, or by the database in offline mode, and the
// key and database verbs (keygen, checkpoint, project, signer, grant). It
// links no database driver: the offline mode comes in through Offline
// (package cli/auditdb).
package auditcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/eventstore/signing"
	"github.com/spf13/cobra"
)

// Environment variables of the audit verbs.
const (
	// EnvAuditDB selects the offline mode: the event store's PostgreSQL URL.
	EnvAuditDB = "DAYOPS_DB_URL"
	// EnvServerDB is the server's database URL: grant and signer, run
	// beside the server, fall back to it when offline mode is not chosen.
	EnvServerDB  = "DATABASE_URL"
	envPublicKey = "DAYOPS_AUDIT_PUBLIC_KEY" // path to (or value of) the checkpoint public key
	// EnvSignerBackupStore is where `audit signer` copies checkpoints.
	EnvSignerBackupStore = "DAYOPS_AUDIT_BACKUP_STORE"
)

// AuditSource answers the reading audit verbs (log, verify, state): the API
// by default, the database in offline mode. Both answer in apiv1 types, so
// the verbs print alike in either mode.
type AuditSource interface {
	Events(ctx context.Context, q apiv1.AuditEventQuery) (apiv1.EventPage, error)
	Verify(ctx context.Context, req apiv1.AuditVerifyRequest) (apiv1.AuditVerifyReport, error)
	State(ctx context.Context, cluster, asOf string) (apiv1.AuditState, error)
}

// AuditDB is the offline mode: the reading verbs plus what only the database
// holder can do (sign a checkpoint, bring the projection tables up to date).
type AuditDB interface {
	AuditSource
	// Checkpoint signs the chain's head with the key at signingKeyPath (or
	// DAYOPS_AUDIT_SIGNING_KEY); ok is false when the log is empty.
	Checkpoint(ctx context.Context, signingKeyPath string) (c apiv1.AuditCheckpoint, ok bool, err error)
	// Project catches the projections up, calls caughtUp, then with follow
	// keeps them up to date until ctx ends.
	Project(ctx context.Context, follow bool, caughtUp func(position int64)) error
	// Signer signs the chain's head periodically until ctx ends (see
	// SignerConfig), calling started once the key is loaded.
	Signer(ctx context.Context, cfg SignerConfig, started func(keyID string, interval time.Duration)) error
	// Grant gives each writer role the writer's privileges on the audit log
	// and the projections, and each signer role the signer's; granted names
	// each role and what it got. It must run as the tables' owner.
	Grant(ctx context.Context, writers, signers []string, granted func(role, privileges string)) error
	Close()
}

// SignerConfig configures `dayops audit signer`.
type SignerConfig struct {
	// SigningKeyPath is the Ed25519 private key (else DAYOPS_AUDIT_SIGNING_KEY).
	SigningKeyPath string
	// Interval between looks at the head, ResignAfter re-signs an idle head
	// once its checkpoint is this old; 0: the event store's defaults.
	Interval, ResignAfter time.Duration
	// BackupStore, when set, receives a copy of every checkpoint.
	BackupStore string
}

// Offline is how the binary reaches the database directly. The CLI itself
// links no database driver (see TestNoServerDependencies): cmd/dayops wires
// internal/cli/auditdb in.
type Offline struct {
	// Open connects to the event store at url.
	Open func(ctx context.Context, url string) (AuditDB, error)
	// GenerateKey returns a new checkpoint key pair (PEM).
	GenerateKey func() (privatePEM, publicPEM []byte, err error)
	// CheckpointCopies reads the checkpoint copies the signer wrote to the
	// backup store at storeURL (verify --backup-store, in either mode: the
	// auditor reads them, the API or the database only compares).
	CheckpointCopies func(ctx context.Context, storeURL string) ([]apiv1.AuditCheckpointCopy, error)
}

// AuditCmd is `dayops audit`: read, verify and replay the audit log through
// the API (an auditor token is enough), or with --db / DAYOPS_DB_URL straight
// from PostgreSQL (offline mode, for when the API is down or absent).
func AuditCmd(off Offline) *cobra.Command {
	var dbURL string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read, verify and replay the audit log (through the API; --db reads PostgreSQL directly)",
		Long: `Read, verify and replay the audit log.

By default the verbs ask the API (DAYOPS_API, with an auditor or operator
token in DAYOPS_TOKEN): an auditor needs no database password.

Offline mode: with --db URL (or ` + EnvAuditDB + `) they read the event store in
PostgreSQL directly, for when the API is down or not deployed. checkpoint,
project, signer and grant work on the database and exist only in offline mode
(signer and grant, run beside the server, also take its DATABASE_URL).`,
	}
	cmd.PersistentFlags().StringVar(&dbURL, "db", "", "offline mode: PostgreSQL URL of the event store (env "+EnvAuditDB+"); default: ask the API")
	cmd.PersistentFlags().StringVar(&dbURL, "database-url", "", "old name of --db")
	_ = cmd.PersistentFlags().MarkDeprecated("database-url", "use --db")
	a := &auditOpener{off: off, url: &dbURL}
	cmd.AddCommand(auditLogCmd(a), auditVerifyCmd(a), auditStateCmd(a),
		auditCheckpointCmd(a), auditKeygenCmd(off), auditProjectCmd(a), auditSignerCmd(a), auditGrantCmd(a))
	return cmd
}

// auditOpener picks the mode.
type auditOpener struct {
	off Offline
	url *string
}

func (a *auditOpener) dbURL() string {
	if *a.url != "" {
		return *a.url
	}
	return os.Getenv(EnvAuditDB)
}

// opener opens an audit store and returns it with the function that closes it.
type opener[T any] func(context.Context) (T, func(), error)

// use opens a store, runs fn on it and closes it after: the open/close
// pattern every audit verb shares.
func use[T any](ctx context.Context, open opener[T], fn func(T) error) error {
	s, closeFn, err := open(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	return fn(s)
}

// source returns the API, or the database when offline mode is chosen.
func (a *auditOpener) source(ctx context.Context) (AuditSource, func(), error) {
	if u := a.dbURL(); u != "" {
		return a.open(ctx, "", u)
	}
	cl, err := cli.FromEnv()
	if err != nil {
		return nil, nil, fmt.Errorf("%w (or read the database directly: --db URL / %s)", err, EnvAuditDB)
	}
	return apiAudit{cl}, func() {}, nil
}

// db opens the offline mode; verb names a verb that needs it.
func (a *auditOpener) db(verb string) opener[AuditDB] {
	return func(ctx context.Context) (AuditDB, func(), error) {
		return a.open(ctx, verb, a.dbURL())
	}
}

// serverDB opens the offline mode for the verbs run beside the server
// (signer, grant): without --db or DAYOPS_DB_URL, the server's DATABASE_URL.
func (a *auditOpener) serverDB(verb string) opener[AuditDB] {
	return func(ctx context.Context) (AuditDB, func(), error) {
		u := a.dbURL()
		if u == "" {
			u = os.Getenv(EnvServerDB)
		}
		if u == "" {
			return nil, nil, fmt.Errorf("audit %s works on the event store: it needs offline mode (--db URL, %s or the server's %s)", verb, EnvAuditDB, EnvServerDB)
		}
		return a.open(ctx, verb, u)
	}
}

// ignoreCanceled reports an interrupted long-running verb as success.
func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (a *auditOpener) open(ctx context.Context, verb, u string) (AuditDB, func(), error) {
	if u == "" {
		return nil, nil, fmt.Errorf("audit %s writes to the event store: it needs offline mode (--db URL or %s)", verb, EnvAuditDB)
	}
	if a.off.Open == nil {
		return nil, nil, errors.New("this binary has no offline audit mode")
	}
	db, err := a.off.Open(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	return db, db.Close, nil
}

// apiAudit is the audit log through the REST API.
type apiAudit struct{ cl *cli.Client }

func (a apiAudit) Events(ctx context.Context, q apiv1.AuditEventQuery) (apiv1.EventPage, error) {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("cluster", q.Cluster)
	set("operation", q.Operation)
	for _, t := range q.Types {
		v.Add("type", t)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	v.Set("limit", strconv.Itoa(q.Limit))
	if q.Reverse {
		v.Set("reverse", "true")
	}
	if q.Hashes {
		v.Set("hashes", "true")
	}
	var p apiv1.EventPage
	err := a.cl.Do(ctx, http.MethodGet, "/v1/audit/events", v, nil, &p)
	return p, err
}

func (a apiAudit) Verify(ctx context.Context, req apiv1.AuditVerifyRequest) (apiv1.AuditVerifyReport, error) {
	var r apiv1.AuditVerifyReport
	// Verification walks the whole log: no client timeout beyond ctx.
	cl := *a.cl
	cl.HTTP = &http.Client{}
	if a.cl.HTTP != nil {
		cl.HTTP.Transport = a.cl.HTTP.Transport
	}
	err := cl.Do(ctx, http.MethodPost, "/v1/audit/verify", nil, req, &r)
	return r, err
}

func (a apiAudit) State(ctx context.Context, cluster, asOf string) (apiv1.AuditState, error) {
	var s apiv1.AuditState
	v := url.Values{"cluster": {cluster}}
	if asOf != "" {
		v.Set("asOf", asOf)
	}
	err := a.cl.Do(ctx, http.MethodGet, "/v1/audit/state", v, nil, &s)
	return s, err
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

func auditLogCmd(a *auditOpener) *cobra.Command {
	var (
		q                    apiv1.AuditEventQuery
		limit                int
		since, until, output string
	)
	cmd := &cobra.Command{
		Use:   "log",
		Short: "List audit events (table or JSON lines), filtered and paged",
		Example: `  dayops audit log --cluster default/orders --since 24h
  dayops audit log --operation op-123 --output json
  dayops audit log --type StepFailed --limit 50 --after 1200
  dayops audit log --db postgres://auditor@db/dayops --cluster default/orders   # offline`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			var err error
			var errs []error
			if q.Since, err = parseInstant("since", since, now); err != nil {
				errs = append(errs, err)
			}
			if q.Until, err = parseInstant("until", until, now); err != nil {
				errs = append(errs, err)
			}
			if output != "table" && output != "json" {
				errs = append(errs, fmt.Errorf("--output %q: want table or json", output))
			}
			if limit < 0 {
				errs = append(errs, fmt.Errorf("--limit %d: want >= 0 (0: no limit)", limit))
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			ctx := cmd.Context()
			q.Hashes = output == "json"
			return use(ctx, a.source, func(src AuditSource) error {
				return printLog(ctx, src, q, limit, output, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Cluster, "cluster", "", "only events about this Redis cluster, as the log names it (<namespace>/<name>)")
	fl.StringVar(&q.Operation, "operation", "", "only events of this operation")
	fl.StringVar(&since, "since", "", "recorded at or after: RFC 3339 time or duration ago (1h)")
	fl.StringVar(&until, "until", "", "recorded at or before: RFC 3339 time or duration ago")
	fl.StringSliceVar(&q.Types, "type", nil, "only these event types (repeat or comma-separate)")
	fl.IntVar(&limit, "limit", 100, "at most this many events (0: all)")
	fl.Int64Var(&q.After, "after", 0, "page: events after this position")
	fl.BoolVar(&q.Reverse, "reverse", false, "newest first")
	fl.StringVarP(&output, "output", "o", "table", "table or json (one JSON object per line)")
	return cmd
}

// logLine is the JSON-lines form of one event.
type logLine struct {
	Position      int64     `json:"position"`
	ID            string    `json:"id"`
	Stream        string    `json:"stream"`
	Version       int64     `json:"version"`
	Type          string    `json:"type"`
	SchemaVersion int       `json:"schema_version"`
	RecordedAt    time.Time `json:"recorded_at"`
	Actor         string    `json:"actor"`
	Reason        string    `json:"reason,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	CausationID   string    `json:"causation_id,omitempty"`
	Cluster       string    `json:"cluster,omitempty"`
	Payload       any       `json:"payload"`
	Hash          string    `json:"hash,omitempty"`
}

// printLog prints up to limit events (0: all), fetching pages of at most
// apiv1.AuditPageMax.
func printLog(ctx context.Context, src AuditSource, q apiv1.AuditEventQuery, limit int, output string, out, errOut io.Writer) error {
	var tw *tabwriter.Writer
	enc := json.NewEncoder(out)
	if output == "table" {
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "POSITION\tRECORDED (UTC)\tSTREAM\tVER\tTYPE\tACTOR\tOPERATION\tREASON")
	}
	n, last := 0, int64(0)
	err := func() error {
		for {
			q.Limit = apiv1.AuditPageMax
			if limit > 0 {
				q.Limit = min(q.Limit, limit-n)
			}
			page, err := src.Events(ctx, q)
			if err != nil {
				return err
			}
			for _, e := range page.Events {
				n++
				last = e.Position
				if tw != nil {
					if _, err := fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", e.Position,
						e.RecordedAt.UTC().Format("2006-01-02 15:04:05.000"), e.Stream, e.Version, e.Type,
						e.Actor, e.CorrelationID, oneLine(e.Reason, 40)); err != nil {
						return err
					}
					continue
				}
				if err := enc.Encode(logLine{Position: e.Position, ID: e.ID, Stream: e.Stream, Version: e.Version,
					Type: e.Type, SchemaVersion: e.SchemaVersion, RecordedAt: e.RecordedAt.UTC(), Actor: e.Actor,
					Reason: e.Reason, CorrelationID: e.CorrelationID, CausationID: e.CausationID,
					Cluster: e.Cluster, Payload: e.Payload, Hash: e.Hash}); err != nil {
					return err
				}
			}
			if page.Next == 0 || (limit > 0 && n >= limit) {
				return nil
			}
			if q.Reverse {
				q.Before = page.Next
			} else {
				q.After = page.Next
			}
		}
	}()
	if tw != nil {
		if ferr := tw.Flush(); err == nil {
			err = ferr
		}
	}
	if err != nil {
		return err
	}
	if limit > 0 && n == limit && !q.Reverse {
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

// ChainBrokenError is a failed verification: it names the first broken
// event and makes `dayops audit verify` exit 2.
type ChainBrokenError struct{ Report apiv1.AuditVerifyReport }

func (e *ChainBrokenError) Error() string {
	if e.Report.Error != "" {
		return e.Report.Error
	}
	return fmt.Sprintf("chain broken at position %d: %s", e.Report.Position, e.Report.Problem)
}

// ExitCode is 2 for a broken chain.
func (e *ChainBrokenError) ExitCode() int { return 2 }

func auditVerifyCmd(a *auditOpener) *cobra.Command {
	var (
		pubPath, backupURL string
		req                apiv1.AuditVerifyRequest
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
database unchanged.

--backup-store is read here, with this command's credentials, in either mode: the
copies are the auditor's evidence, sent to the API (or compared offline) as read.`,
		Example: `  dayops audit verify --public-key audit-signing.pub --max-checkpoint-age 15m
  dayops audit verify --public-key audit-signing.pub --backup-store s3://audit/dayops?endpoint=minio:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.PublicKeys, req.CheckpointCopies = nil, nil
			raw, err := signing.LoadKeyFile(pubPath, envPublicKey)
			if err != nil {
				return fmt.Errorf("--public-key: %w", err)
			}
			if raw != nil {
				req.PublicKeys = append(req.PublicKeys, string(raw))
			}
			if maxAge < 0 {
				return fmt.Errorf("--max-checkpoint-age %s: want >= 0 (0: no bound)", maxAge)
			}
			req.MaxCheckpointAge = ""
			if maxAge > 0 {
				req.MaxCheckpointAge = maxAge.String()
			}
			ctx := cmd.Context()
			if backupURL != "" {
				if a.off.CheckpointCopies == nil {
					return errors.New("--backup-store: this binary cannot read checkpoint copies")
				}
				if req.CheckpointCopies, err = a.off.CheckpointCopies(ctx, backupURL); err != nil {
					return fmt.Errorf("--backup-store: %w", err)
				}
			}
			return use(ctx, a.source, func(src AuditSource) error {
				rep, err := src.Verify(ctx, req)
				if err != nil {
					return err
				}
				if !rep.Intact {
					return &ChainBrokenError{Report: rep}
				}
				printVerify(cmd.OutOrStdout(), rep, backupURL != "", time.Now())
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&pubPath, "public-key", "", "Ed25519 public key (PEM or base64) that signs checkpoints (env "+envPublicKey+")")
	fl.BoolVar(&req.AllowNoCheckpoint, "allow-no-checkpoint", false, "pass a log that has no checkpoint at all (a new install); otherwise that fails")
	fl.DurationVar(&maxAge, "max-checkpoint-age", 0, "fail when the newest checkpoint was signed longer ago than this (0: no bound)")
	fl.StringVar(&backupURL, "backup-store", "", "backup store holding checkpoint copies ("+apiv1.AuditCheckpointCopyPrefix+"); each must be in the database unchanged")
	return cmd
}

func printVerify(out io.Writer, rep apiv1.AuditVerifyReport, copies bool, now time.Time) {
	fmt.Fprintf(out, "chain intact: %d events, head position %d hash %s (%.1fs)\n",
		rep.Events, rep.HeadPosition, rep.HeadHash, rep.Seconds)
	switch {
	case rep.Checkpoints == 0:
		fmt.Fprintln(out, "checkpoints: none stored yet: nothing is signed (allowed by --allow-no-checkpoint)")
	case len(rep.KeyIDs) == 0:
		fmt.Fprintf(out, "checkpoints: %d match the chain; signatures NOT checked (no --public-key): a rewrite of the whole log would go unnoticed\n", rep.Checkpoints)
	default:
		fmt.Fprintf(out, "checkpoints: %d, all signed by key %s and matching the chain; last signed position %d (%d events after it are chained but not yet signed)\n",
			rep.SignaturesChecked, rep.KeyIDs[0], rep.LastSignedCheckpoint, rep.HeadPosition-rep.LastSignedCheckpoint)
	}
	if rep.Checkpoints > 0 {
		fmt.Fprintf(out, "newest checkpoint: %d, signed %s ago\n", rep.NewestCheckpoint, now.Sub(rep.NewestCheckpointSignedAt).Round(time.Second))
	}
	if copies {
		fmt.Fprintf(out, "backup store: %d checkpoint copies, all in the database unchanged\n", rep.CheckpointCopiesChecked)
	}
}

func auditStateCmd(a *auditOpener) *cobra.Command {
	var cluster, asOf, output string
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Replay a cluster's state (topology, last operation, timelines) as of a time or position",
		Example: `  dayops audit state --cluster default/orders
  dayops audit state --cluster default/orders --as-of 2026-11-20T08:00:00Z
  dayops audit state --cluster default/orders --as-of 1234 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			if cluster == "" {
				errs = append(errs, errors.New("--cluster is required"))
			}
			if output != "text" && output != "json" {
				errs = append(errs, fmt.Errorf("--output %q: want text or json", output))
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			ctx := cmd.Context()
			return use(ctx, a.source, func(src AuditSource) error {
				st, err := src.State(ctx, cluster, asOf)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if output == "json" {
					return cli.PrintJSON(out, st)
				}
				return printState(out, st)
			})
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "Redis cluster as the log names it: <namespace>/<name> (required)")
	cmd.Flags().StringVar(&asOf, "as-of", "", "RFC 3339 time, duration ago (2h), or global position; default now")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// printLost lists the instances the log records lost and not recovered.
func printLost(out io.Writer, c *apiv1.AuditClusterState) {
	head := "\nlost, not recovered since (as recorded):\n"
	for _, o := range c.Lost() {
		fmt.Fprintf(out, "%s  ordinal %d (shard %d): %s\n", head, o, c.Instances[o].Shard, c.Instances[o].LostReason)
		head = ""
	}
}

func printState(out io.Writer, st apiv1.AuditState) error {
	c := st.Cluster
	if c == nil {
		return errors.New("the answer holds no cluster state")
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	status := "exists"
	if c.Deleted {
		status = "deleted"
	}
	fmt.Fprintf(tw, "cluster %s (%s) as of %s, last event position %d\n", c.Name, status, st.AsOf, c.Position)
	fmt.Fprintf(tw, "redis %s, image %s, %d slots assigned\n", c.RedisVersion, c.Image, c.SlotCount())
	if op := c.LastOperation; op != nil {
		fmt.Fprintf(tw, "last operation: %s %s by %s: %s %s\n", op.ID, op.Kind, op.Actor, op.Status, op.Error)
	}
	fmt.Fprintln(tw, "\nSHARD\tSLOTS\tORDINAL\tROLE\tZONE\tPOD\tVERSION")
	for _, sh := range slices.Sorted(maps.Keys(c.Shards)) {
		var ranges []string
		for _, r := range c.Shards[sh].Slots {
			ranges = append(ranges, fmt.Sprintf("%d-%d", r.Start, r.End))
		}
		first := true
		for _, o := range slices.Sorted(maps.Keys(c.Instances)) {
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
	printLost(tw, c)
	if len(st.Operations) > 0 {
		fmt.Fprintln(tw, "\nOPERATION\tKIND\tSTATUS\tACTOR\tREQUESTED\tENDED\tSTEPS")
		for _, t := range st.Operations {
			done := 0
			for _, s := range t.Steps {
				if s.Outcome == apiv1.AuditStatusCompleted {
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

func auditCheckpointCmd(a *auditOpener) *cobra.Command {
	var keyPath string
	cmd := &cobra.Command{
		Use:   "checkpoint",
		Short: "Sign the head of the chain now with the checkpoint key (offline mode: --db)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return use(ctx, a.db("checkpoint"), func(db AuditDB) error {
				c, ok, err := db.Checkpoint(ctx, keyPath)
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(cmd.OutOrStdout(), "the log is empty: nothing to sign")
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "checkpoint: position %d hash %s signed by %s at %s\n",
					c.Position, c.Hash, c.KeyID, c.SignedAt.UTC().Format(time.RFC3339Nano))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&keyPath, "signing-key", "", "Ed25519 private key (PEM or base64) (env DAYOPS_AUDIT_SIGNING_KEY)")
	return cmd
}

func auditKeygenCmd(off Offline) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Write a new Ed25519 checkpoint key pair: PREFIX.key (private, 0600) and PREFIX.pub",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if off.GenerateKey == nil {
				return errors.New("this binary cannot generate checkpoint keys")
			}
			priv, pub, err := off.GenerateKey()
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

func auditProjectCmd(a *auditOpener) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "project",
		Short: "Bring the projection tables (cluster state, timelines) up to date; --follow keeps them so (offline mode: --db)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return use(ctx, a.db("project"), func(db AuditDB) error {
				start := time.Now()
				return ignoreCanceled(db.Project(ctx, follow, func(pos int64) {
					fmt.Fprintf(cmd.OutOrStdout(), "projections at position %d (%.1fs)\n", pos, time.Since(start).Seconds())
				}))
			})
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep following the log until interrupted")
	return cmd
}

func auditSignerCmd(a *auditOpener) *cobra.Command {
	var cfg SignerConfig
	cmd := &cobra.Command{
		Use:   "signer",
		Short: "Sign the chain's head periodically with the checkpoint key, apart from the writers; copy checkpoints to a backup store (offline mode)",
		Long: `Run the checkpoint signer until interrupted. Run it with its own key and its own database
role (granted with ` + "`dayops audit grant --signer ROLE`" + `: SELECT on events, SELECT and INSERT on
checkpoints), so that the API and the worker never hold the key. With --backup-store every
checkpoint is also copied to ` + apiv1.AuditCheckpointCopyPrefix + `<seq>.json there, where verify --backup-store
compares them with the database.

It works on the database: --db URL, ` + EnvAuditDB + `, or the server's ` + EnvServerDB + `.`,
		Example: `  dayops audit signer --db postgres://dayops_signer@db/dayops --signing-key audit-signing.key --backup-store /backups`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Interval < 0 || cfg.ResignAfter < 0 {
				return fmt.Errorf("--interval %s, --resign-after %s: want >= 0 (0: default)", cfg.Interval, cfg.ResignAfter)
			}
			if cfg.BackupStore == "" {
				cfg.BackupStore = os.Getenv(EnvSignerBackupStore)
			}
			ctx := cmd.Context()
			return use(ctx, a.serverDB("signer"), func(db AuditDB) error {
				return ignoreCanceled(db.Signer(ctx, cfg, func(keyID string, interval time.Duration) {
					fmt.Fprintf(cmd.OutOrStdout(), "audit signer: key %s, every %s\n", keyID, interval)
				}))
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.SigningKeyPath, "signing-key", "", "Ed25519 private key (PEM or base64) (env DAYOPS_AUDIT_SIGNING_KEY)")
	fl.DurationVar(&cfg.Interval, "interval", 0, "how often to look at the head and sign it if it moved (0: 30s)")
	fl.DurationVar(&cfg.ResignAfter, "resign-after", 0, "re-sign an idle head once its checkpoint is this old; keep below verify's --max-checkpoint-age (0: 5m)")
	fl.StringVar(&cfg.BackupStore, "backup-store", "", "copy every checkpoint to this backup store (an absolute path, file:// or s3:// URL, as DAYOPS_BACKUP_STORE) (env "+EnvSignerBackupStore+")")
	return cmd
}

func auditGrantCmd(a *auditOpener) *cobra.Command {
	var writers, signers []string
	cmd := &cobra.Command{
		Use:   "grant",
		Short: "Grant database roles the writer's (INSERT, SELECT) or the signer's privileges on the audit log; run as the tables' owner (offline mode)",
		Long: `Run as the role that owns the audit tables (it also applies pending schema migrations,
which writers and signers cannot). A writer (the API and the worker) gets INSERT and SELECT
on the event log, SELECT on checkpoints and the projection tables; a signer gets SELECT on
the events and INSERT, SELECT on checkpoints. Neither may UPDATE, DELETE or TRUNCATE the log.

It works on the database: --db URL, ` + EnvAuditDB + `, or the server's ` + EnvServerDB + `.`,
		Example: `  dayops audit grant --db postgres://owner@db/dayops --writer dayops --signer dayops_signer`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(writers)+len(signers) == 0 {
				return errors.New("name at least one --writer or --signer role")
			}
			ctx := cmd.Context()
			return use(ctx, a.serverDB("grant"), func(db AuditDB) error {
				return db.Grant(ctx, writers, signers, func(role, privileges string) {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", role, privileges)
				})
			})
		},
	}
	cmd.Flags().StringSliceVar(&writers, "writer", nil, "role of the API and the worker")
	cmd.Flags().StringSliceVar(&signers, "signer", nil, "role of the checkpoint signer (and of a writer that signs in-process)")
	return cmd
}
