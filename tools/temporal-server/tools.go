//go:build tools

// Package tools pins Temporal's own server (the `--temporal=server` mode of
// `dayops-dev dev up`: frontend, history, matching and worker services on
// PostgreSQL) and its SQL schema tool in a module of their own, at the
// server version the Temporal CLI of tools/temporal embeds, so the two
// share compiled packages. scripts/build-tools.sh builds them into
// bin/temporal-server and bin/temporal-sql-tool; the PostgreSQL schema
// files are read from this module's copy of go.temporal.io/server.
package tools

import (
	_ "go.temporal.io/server/cmd/server"
	_ "go.temporal.io/server/cmd/tools/sql"
)
