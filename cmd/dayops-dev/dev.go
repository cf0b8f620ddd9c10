package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dayops/dayops/internal/devcluster"
)

func newDevCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start, stop and inspect the local stack (Temporal, Kubernetes control plane, node agent)",
		Long: `The local stack: the Temporal dev server (SQLite under the state dir, Web UI;
or with --temporal=server Temporal's own server on PostgreSQL behind mutual TLS), etcd, kube-apiserver, kube-scheduler, kube-controller-manager and the node agent,
each a process of its own logging to STATE/logs/NAME.log. Tools come from bin/
(scripts/build-tools.sh). PostgreSQL is the machine's server on 127.0.0.1:5432.`,
	}
	cmd.AddCommand(newDevUpCmd(), newDevDownCmd(), newDevStatusCmd(), newDevAgentCmd())
	return cmd
}

// devFlags binds the devcluster.Config fields to flags shared by up, down
// and status.
type devFlags struct {
	root      string
	stateDir  string
	binDir    string
	dayopsBin string
	cfg       devcluster.Config
}

func addDevFlags(fs *pflag.FlagSet) *devFlags {
	wd, _ := os.Getwd()
	root := devcluster.FindRoot(wd)
	f := &devFlags{root: root, cfg: devcluster.DefaultConfig(root)}
	if v := os.Getenv(devcluster.EnvDatabaseURL); v != "" {
		f.cfg.DatabaseURL = v
	}
	if v := os.Getenv(devcluster.EnvAPI); v != "" {
		f.cfg.APIURL = v
	}
	c := &f.cfg
	fs.StringVar(&f.stateDir, "state-dir", "", "state directory (default ROOT/.dayops, ROOT = the checkout containing the working directory)")
	fs.StringVar(&f.binDir, "bin-dir", "", "directory of temporal, kube and kubectl (default ROOT/bin)")
	fs.StringVar(&f.dayopsBin, "dayops-binary", "", "the product binary the node agent runs for dayops images (default BIN-DIR/dayops)")
	fs.StringVar(&c.Temporal, "temporal", c.Temporal, "Temporal mode: dev (the CLI's dev server, SQLite, Web UI) or server (Temporal's own server on PostgreSQL, mTLS, no Web UI; needs bin/temporal-server)")
	fs.BoolVar(&c.TemporalOnly, "temporal-only", false, "start only Temporal (no Kubernetes control plane, no node agent)")
	fs.IntVar(&c.TemporalPort, "temporal-port", c.TemporalPort, "Temporal gRPC port on 127.0.0.1 (server mode also takes the next 7 ports)")
	fs.IntVar(&c.TemporalUIPort, "temporal-ui-port", c.TemporalUIPort, "Temporal Web UI port (dev mode)")
	fs.IntVar(&c.EtcdPort, "etcd-port", c.EtcdPort, "etcd client port")
	fs.IntVar(&c.EtcdPeerPort, "etcd-peer-port", c.EtcdPeerPort, "etcd peer port")
	fs.IntVar(&c.APIServerPort, "apiserver-port", c.APIServerPort, "kube-apiserver secure port")
	fs.IntVar(&c.ControllerManagerPort, "controller-manager-port", c.ControllerManagerPort, "kube-controller-manager healthz port")
	fs.IntVar(&c.SchedulerPort, "scheduler-port", c.SchedulerPort, "kube-scheduler healthz port")
	fs.IntVar(&c.Zones, "zones", c.Zones, "zones of the node agent's Nodes")
	fs.IntVar(&c.NodesPerZone, "nodes-per-zone", c.NodesPerZone, "Nodes per zone")
	fs.BoolVar(&c.NoAgent, "no-agent", false, "do not run the node agent (Pods stay Pending)")
	fs.StringArrayVar(&c.AgentArgs, "agent-arg", nil, "extra flag for `dayops-dev dev agent` (repeatable), e.g. --agent-arg=--subnet-offset=100")
	// The flags below matter to up and run; down and status accept them so
	// that one set of flags fits every verb.
	fs.StringVar(&c.ServiceCIDR, "service-cidr", c.ServiceCIDR, "Service cluster IP range")
	fs.StringVar(&c.PodCIDR, "pod-cidr", c.PodCIDR, "pod address range, routed to the loopback device")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "dayops' PostgreSQL database, created if absent (env DATABASE_URL)")
	fs.StringVar(&c.APIURL, "api-url", c.APIURL, "where `dayops-dev run` serves the API (env DAYOPS_API)")
	fs.DurationVar(&c.StartTimeout, "start-timeout", c.StartTimeout, "how long to wait for each component to become healthy")
	fs.DurationVar(&c.StopGrace, "stop-grace", c.StopGrace, "grace period between SIGTERM and SIGKILL")
	return f
}

// config resolves the flags into a Config.
func (f *devFlags) config() devcluster.Config {
	c := f.cfg
	if f.stateDir != "" {
		c.StateDir, _ = filepath.Abs(f.stateDir)
	}
	if f.binDir != "" {
		c.BinDir, _ = filepath.Abs(f.binDir)
	}
	if exe, err := os.Executable(); err == nil {
		c.DevBin = exe // the agent runs from this very binary
	}
	if f.dayopsBin != "" {
		c.DayopsBin, _ = filepath.Abs(f.dayopsBin)
	}
	c.Logger = slog.Default()
	return c
}

// stackCmd is a verb over the local stack: it takes the shared stack flags
// (addDevFlags) and runs with the Config they resolve to.
func stackCmd(use, short string, run func(cmd *cobra.Command, cfg devcluster.Config) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	f := addDevFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return run(cmd, f.config()) }
	return cmd
}

func newDevUpCmd() *cobra.Command {
	return stackCmd("up", "Start the local stack (harmless when it already runs) and print its URLs", func(cmd *cobra.Command, cfg devcluster.Config) error {
		start := time.Now()
		st, err := devcluster.Up(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if st.AlreadyRunning() {
			fmt.Fprintln(out, "dayops-dev: the local stack is already running")
		} else {
			fmt.Fprintf(out, "dayops-dev: local stack ready in %s (started: %v)\n", time.Since(start).Round(100*time.Millisecond), st.Started)
		}
		fmt.Fprint(out, st)
		return nil
	})
}

func newDevDownCmd() *cobra.Command {
	var purge bool
	cmd := stackCmd("down", "Stop everything `dev up` started (agent first, etcd last) and remove the route it added", func(cmd *cobra.Command, cfg devcluster.Config) error {
		if err := devcluster.Down(cmd.Context(), cfg, devcluster.DownOptions{Purge: purge}); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), "dayops-dev: local stack stopped")
		return nil
	})
	cmd.Flags().BoolVar(&purge, "purge", false, "also delete the stack's data (etcd, Temporal database(s), agent state, PKI); logs are kept")
	return cmd
}

// errStackDown makes `dev status` exit 1 after printing its table.
var errStackDown = errors.New("some components are not running or not healthy")

func newDevStatusCmd() *cobra.Command {
	return stackCmd("status", "Show each component's pid, health and URL; exits 1 if any is down", func(cmd *cobra.Command, c devcluster.Config) error {
		sts, err := devcluster.Status(cmd.Context(), c)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "COMPONENT\tPID\tHEALTH\tURL")
		down := false
		for _, s := range sts {
			pid := "-"
			if s.Running {
				pid = fmt.Sprint(s.PID)
			}
			if !s.Healthy() {
				down = true
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, pid, s.Health, s.URL)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "kubeconfig: %s\nlogs:       %s\n", c.KubeconfigPath(), filepath.Dir(c.LogPath("x")))
		if down {
			return errStackDown
		}
		return nil
	})
}
