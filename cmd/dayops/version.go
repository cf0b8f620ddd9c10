package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and revision are set by the image build (`make image`:
// -ldflags "-X main.version=... -X main.revision=..."); a plain `go build`
// leaves them empty and `dayops version` falls back to the module's build
// information.
var version, revision string

// newVersionCmd prints what this binary is: the image's
// org.opencontainers.image.version and .revision labels come from the same
// values, so `dayops version` inside a container names its image.
func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, source revision and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, r := version, revision
			if bi, ok := debug.ReadBuildInfo(); ok {
				if v == "" {
					v = bi.Main.Version
				}
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && r == "" {
						r = s.Value
					}
				}
			}
			if v == "" {
				v = "(devel)"
			}
			if r == "" {
				r = "unknown"
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "dayops %s revision %s %s %s/%s\n", v, r, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
