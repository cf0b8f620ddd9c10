// Command dayops-dev is the development binary: the local stack (`dev
// up|down|status`), its node agent (`dev agent`), the all-in-one local run
// (`run`) and the benchmarks (`bench ...`). It is kept apart from the
// product binary (cmd/dayops) so that the product never links the dev
// stack, the benchmarks or test utilities.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/internal/cli"
)

func main() { os.Exit(cli.Execute(newRootCmd())) }

func newRootCmd() *cobra.Command {
	root := cli.NewRoot("dayops-dev", "dayops development tools: local stack, node agent, local run, benchmarks")
	root.AddCommand(
		newRunCmd(),
		newDevCmd(),
		newBenchCmd(),
	)
	return root
}
