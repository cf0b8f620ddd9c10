// Package benchtemporal starts a Temporal server of either local-stack mode
// (devcluster.TemporalDev: the CLI's dev server on SQLite;
// devcluster.TemporalServer: Temporal's own server on PostgreSQL with mutual
// TLS) for one benchmark run, alone (no Kubernetes), on free ports, in a
// state directory and databases of its own, so that a benchmark can compare
// the two modes in one run against the same stack. Stop removes all of it.
package benchtemporal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/dayops/dayops/internal/devcluster"
	"github.com/dayops/dayops/internal/devcluster/hostsetup"
	"github.com/dayops/dayops/internal/temporaltls"
	"github.com/dayops/dayops/internal/testutil/pgtest"
)

// Server is a running Temporal of one mode.
type Server struct {
	// Mode is devcluster.TemporalDev or devcluster.TemporalServer.
	Mode string
	// Address is the frontend's host:port; TLS dayops' client side of the
	// frontend's mutual TLS (zero in dev mode).
	Address string
	TLS     temporaltls.Files
	cfg     devcluster.Config
	db      *pgtest.Database
}

// Start starts a Temporal of mode with the binaries of root/bin. In server
// mode its databases are named after a database that Start creates on the
// PostgreSQL server of databaseURL (and Stop drops).
func Start(ctx context.Context, root, mode, databaseURL string, log *slog.Logger) (*Server, error) {
	if mode != devcluster.TemporalDev && mode != devcluster.TemporalServer {
		return nil, fmt.Errorf("temporal mode %q: want %q or %q", mode, devcluster.TemporalDev, devcluster.TemporalServer)
	}
	cfg := devcluster.DefaultConfig(root)
	cfg.Temporal = mode
	cfg.TemporalOnly = true
	cfg.StartTimeout = 2 * time.Minute
	cfg.Logger = log
	dir, err := os.MkdirTemp("", "dayops-bench-temporal-"+mode+"-")
	if err != nil {
		return nil, err
	}
	cfg.StateDir = dir
	if cfg.TemporalPort, err = hostsetup.FreePortBlock(20000, 30000, len(cfg.TemporalServerPorts())); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg.TemporalUIPort = cfg.TemporalPort + 1 // dev mode: its only other port
	s := &Server{Mode: mode, cfg: cfg}
	if mode == devcluster.TemporalServer {
		if s.db, err = pgtest.Create(ctx, databaseURL); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.cfg.DatabaseURL = s.db.URL
	}
	st, err := devcluster.Up(ctx, s.cfg)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start Temporal (%s mode): %w", mode, err), s.Stop(context.WithoutCancel(ctx)))
	}
	s.Address, s.TLS = st.TemporalAddress, st.TemporalTLS
	return s, nil
}

// Stop stops the server and removes its state directory and databases.
func (s *Server) Stop(ctx context.Context) error {
	errs := []error{devcluster.Down(ctx, s.cfg, devcluster.DownOptions{Purge: true})}
	if s.db != nil {
		errs = append(errs, s.db.Drop(ctx))
	}
	errs = append(errs, os.RemoveAll(s.cfg.StateDir))
	return errors.Join(errs...)
}

// Dial connects a client to the server (namespace "default"), over mutual
// TLS in server mode; opts' HostPort, Namespace and TLS are set here.
func (s *Server) Dial(ctx context.Context, opts client.Options) (client.Client, error) {
	tc, err := s.TLS.Config()
	if err != nil {
		return nil, err
	}
	opts.HostPort, opts.Namespace = s.Address, devcluster.TemporalNamespace
	opts.ConnectionOptions.TLS = tc
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal (%s mode) at %s: %w", s.Mode, s.Address, err)
	}
	return c, nil
}

// Env are the variables that point a dayops process at the server:
// TEMPORAL_ADDRESS and, in server mode, the TLS files.
func (s *Server) Env() []string {
	env := []string{"TEMPORAL_ADDRESS=" + s.Address, "TEMPORAL_NAMESPACE=" + devcluster.TemporalNamespace}
	if s.TLS.Enabled() {
		env = append(env, temporaltls.EnvCert+"="+s.TLS.Cert, temporaltls.EnvKey+"="+s.TLS.Key,
			temporaltls.EnvCA+"="+s.TLS.CA, temporaltls.EnvServerName+"="+s.TLS.ServerName)
	}
	return env
}
