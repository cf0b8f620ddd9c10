//go:build tools

// Package tools pins the Temporal CLI (the `temporal server start-dev` dev
// server used by `dayops-dev dev up`) in a module of its own, so that its
// dependency graph never touches the main module. scripts/build-tools.sh
// builds it into bin/temporal.
package tools

import _ "github.com/temporalio/cli/cmd/temporal"
