package devcluster

import "github.com/dayops/dayops/internal/devcluster/stackconfig"

// Config configures the stack; see stackconfig.Config.
type Config = stackconfig.Config

// TemporalAuth is the Temporal server mode's authorization; see
// stackconfig.TemporalAuth.
type TemporalAuth = stackconfig.TemporalAuth

// ModulePath is the main module's path; FindRoot looks for its go.mod.
const ModulePath = stackconfig.ModulePath

// Temporal modes (Config.Temporal, --temporal).
const (
	TemporalDev    = stackconfig.TemporalDev
	TemporalServer = stackconfig.TemporalServer
)

// TemporalNamespace is the namespace dayops uses.
const TemporalNamespace = stackconfig.TemporalNamespace

// DefaultConfig is the configuration of the default stack of the checkout
// at root.
func DefaultConfig(root string) Config { return stackconfig.Default(root) }

// FindRoot returns the checkout root above dir (see stackconfig.FindRoot).
func FindRoot(dir string) string { return stackconfig.FindRoot(dir) }
