package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/internal/server"
)

// newServerCmd runs the API and/or the worker against configured backends
// (a real Kubernetes, Temporal and PostgreSQL, or the local stack's).
func newServerCmd() *cobra.Command {
	var roles string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the dayops API and/or worker (configured by environment: DAYOPS_ROLES, DAYOPS_API, TEMPORAL_ADDRESS, KUBECONFIG, DATABASE_URL, DAYOPS_API_TOKENS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := server.FromEnv()
			if cmd.Flags().Changed("roles") {
				cfg.Roles = strings.Split(roles, ",")
			}
			return server.Run(cmd.Context(), cfg, slog.Default(), func(addr string) {
				if addr != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "dayops API on http://%s (OpenAPI: /openapi.json), roles %v\n", addr, cfg.Roles)
				}
			})
		},
	}
	cmd.Flags().StringVar(&roles, "roles", "api,worker", "what to run: api, worker, or both (env DAYOPS_ROLES)")
	return cmd
}
