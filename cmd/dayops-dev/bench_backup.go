package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/bench/backupbench"
	"github.com/dayops/dayops/bench/migratebench"
)

// newBenchBackupCmd is `dayops-dev bench backup`: backup and restore throughput,
// the write pause, and restore into another shard count against
// redis-cli --cluster import, printed as a table.
func newBenchBackupCmd() *cobra.Command {
	var (
		data, tools string
		cfg         backupbench.Config
	)
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Backup/restore throughput, the write pause, and replay vs redis-cli --cluster import",
		Long: `Starts local redis-server clusters (127.0.0.1, free ports), fills one, and
measures with the functions the Backup and Restore activities run:
  backup            the consistency point (CLIENT PAUSE WRITE + SYNC fork) and
                    the streaming of every shard's RDB into the store, while a
                    client writes; the measured write pause
  load              every RDB into a temporary standalone redis-server over the
                    replication protocol (SHA-256 checked)
  restore N->N      load + redis-cli --rdb from each temporary instance + a
                    new cluster node starting with that dump.rdb (what a
                    restored primary's init container and start do)
  restore N->M      dayops pipelined RESTORE replay into M shards, against
                    redis-cli --cluster import --cluster-copy of the same
                    temporary instances (one redis-cli per source, all at once)
into a fresh cluster each, in the same run; prints MB/s, keys/s and the ratio.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Datasets, err = migratebench.ParseDatasets(data); err != nil {
				return err
			}
			for _, t := range strings.Split(tools, ",") {
				t = strings.TrimSpace(t)
				if t != "dayops" && t != "redis-cli" {
					return fmt.Errorf("--tools: unknown %q (want dayops, redis-cli)", t)
				}
				cfg.Tools = append(cfg.Tools, t)
			}
			cfg.Log = slog.Default()
			_, err = backupbench.Run(cmd.Context(), cfg, cmd.OutOrStdout())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "1000000x100,100000x10240", "datasets as KEYSxVALUE_BYTES, comma separated")
	f.IntVar(&cfg.Primaries, "primaries", 3, "shards of the backed-up cluster")
	f.IntVar(&cfg.Into, "into", 4, "shards of the replay restore")
	f.StringVar(&cfg.Store, "store", "", "backup store URL (default: a temporary directory); s3://... uses AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
	f.StringVar(&cfg.Dir, "dir", "", "parent directory of the nodes' directories (default $TMPDIR)")
	f.StringVar(&tools, "tools", "dayops,redis-cli", "restore tools to compare")
	return cmd
}
