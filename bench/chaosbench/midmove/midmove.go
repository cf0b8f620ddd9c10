// Package midmove is the frame of the chaos scenarios that strike in the
// middle of a slot migration (targetkill, temporaldown): a scale-out (or in)
// by one shard of the bench's cluster, measured, with a fault running
// beside it.
package midmove

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/internal/apiv1"
)

// ScaleOut is one such scale-out (or in), ended.
type ScaleOut struct {
	Shards      int // before the scale-out
	OperationID string
	Op          apiv1.Operation
	Span        chaosbench.Span // from before the scale-out, for b.End
	// Client is a cluster client of the cluster (the caller closes it).
	Client *redis.ClusterClient
}

// Run begins a measurement (b.Begin), scales b's cluster out by one shard
// for reason and runs fault beside it with a cluster client, until the
// operation ends (15 minutes at most); fault's context ends with it.
func Run(ctx context.Context, b *chaosbench.Bench, reason string, fault func(ctx context.Context, cc *redis.ClusterClient)) (ScaleOut, error) {
	return RunBy(ctx, b, reason, 1, fault)
}

// RunBy is Run by delta shards (-1: a scale-in, the last shard drained).
func RunBy(ctx context.Context, b *chaosbench.Bench, reason string, delta int, fault func(ctx context.Context, cc *redis.ClusterClient)) (ScaleOut, error) {
	nsq := url.Values{"namespace": {b.Namespace}}
	var c apiv1.ClusterDetail
	if err := b.Auditor.Do(ctx, http.MethodGet, "/v1/clusters/"+b.Cluster, nsq, nil, &c); err != nil {
		return ScaleOut{}, err
	}
	span, err := b.Begin(ctx)
	if err != nil {
		return ScaleOut{}, err
	}
	cc, err := b.Client(ctx)
	if err != nil {
		return ScaleOut{}, err
	}
	s := ScaleOut{Shards: c.Spec.Shards, Span: span, Client: cc}
	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { fault(fctx, cc) })
	defer func() { stop(); wg.Wait() }()
	var acc apiv1.OperationAccepted
	if err := b.Operator.Do(ctx, http.MethodPost, "/v1/clusters/"+b.Cluster+"/operations", nsq,
		map[string]any{"type": "scale-shards", "shards": c.Spec.Shards + delta, "reason": reason}, &acc); err != nil {
		cc.Close()
		return ScaleOut{}, fmt.Errorf("start scale-out: %w", err)
	}
	s.OperationID = acc.OperationID
	if s.Op, err = b.WaitOperation(ctx, acc.OperationID, 15*time.Minute); err != nil {
		cc.Close()
		return ScaleOut{}, err
	}
	return s, nil
}
