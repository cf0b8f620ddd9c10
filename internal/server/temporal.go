package server

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/dayops/dayops/internal/callauth"
	"github.com/dayops/dayops/internal/operation"
)

// DialTemporal connects the API and the worker to the Temporal frontend of
// cfg: mutual TLS when the files are set, the API key when one is set
// (Config.TemporalConnection), the operation propagator, and the signer of
// the API's signals and updates (package callauth).
func DialTemporal(ctx context.Context, cfg Config, log *slog.Logger, keys callauth.Keys) (client.Client, error) {
	opts := client.Options{
		HostPort:           cfg.TemporalAddress,
		Namespace:          cfg.TemporalNamespace,
		Logger:             sdklog.NewStructuredLogger(log),
		ContextPropagators: []workflow.ContextPropagator{operation.MetaPropagator{}},
		// The API's signals and updates carry its MAC (package callauth).
		Interceptors: []interceptor.ClientInterceptor{&callauth.Signer{Keys: keys}},
	}
	if err := cfg.TemporalConnection().Apply(&opts); err != nil {
		return nil, err
	}
	cl, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	return cl, nil
}
