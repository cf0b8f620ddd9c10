// Command dayops is the product binary: the API server, the Temporal worker,
// the CLI verbs and the audit tools. The local development stack, its node
// agent and the benchmarks live in cmd/dayops-dev and are never linked here
// (deps_test.go guards that).
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/cli/auditcli"
	"github.com/dayops/dayops/internal/cli/auditdb"
)

func main() { os.Exit(cli.Execute(newRootCmd())) }

func newRootCmd() *cobra.Command {
	root := cli.NewRoot("dayops", "Day-2 operations engine for Redis Cluster on Kubernetes")
	root.AddCommand(
		cli.ClusterCmd(),
		cli.OpCmd(),
		cli.BackupCmd(),
		cli.RestoreCmd(),
		newServerCmd(),
		auditcli.AuditCmd(auditdb.Offline()),
		newInstanceCmd(),
		newVersionCmd(),
	)
	return root
}
