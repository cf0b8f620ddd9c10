package rdb

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
)

// Source is one temporary instance being replayed and where its SCAN is.
type Source struct {
	Shard  int    `json:"shard"`
	Addr   string `json:"addr"`
	Cursor uint64 `json:"cursor"`
	// Done is set once the SCAN came back to cursor 0.
	Done bool  `json:"done"`
	Keys int64 `json:"keys"`
}

// ReplayRequest writes the keys of temporary instances into a cluster.
type ReplayRequest struct {
	Sources []Source
	// Source returns a client of a temporary instance.
	Source func(addr string) *redis.Client
	Target *redis.ClusterClient
	// Batch is the keys per SCAN and per pipeline (default 1000).
	Batch int
	// Writers is the RESTORE pipelines in flight per source (default 4).
	Writers int
	// MaxKeys stops each source after about this many keys (0: run to the end),
	// so a caller can report progress between calls.
	MaxKeys int64
	// OnProgress is called about every second with the keys and bytes so far.
	OnProgress func(keys, bytes int64, sources []Source)
}

// ReplayResult is where the sources are and what was written.
type ReplayResult struct {
	Sources []Source `json:"sources"`
	Keys    int64    `json:"keys"`
	Bytes   int64    `json:"bytes"`
}

// Replay copies keys from each source into the target cluster: SCAN, then
// DUMP and PTTL of the batch in one pipeline on the source, then RESTORE
// ... REPLACE with the remaining TTL in one pipeline on the cluster (the
// cluster client splits it by node). Sources run in parallel; per source,
// Writers RESTORE pipelines are in flight while the next SCAN and DUMP run.
//
// Idempotent: RESTORE REPLACE makes a repeated key harmless, and a source
// resumes from its cursor (SCAN of a data set that does not change returns
// every key at least once).
func Replay(ctx context.Context, req ReplayRequest) (ReplayResult, error) {
	if req.Batch <= 0 {
		req.Batch = 1000
	}
	if req.Writers <= 0 {
		req.Writers = 4
	}
	out := ReplayResult{Sources: append([]Source(nil), req.Sources...)}
	var ct replayCounters
	if req.OnProgress != nil {
		defer everySecond(func() { req.OnProgress(ct.keys.Load(), ct.bytes.Load(), nil) })()
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range out.Sources {
		s := &out.Sources[i]
		if s.Done {
			continue
		}
		g.Go(func() error { return replaySource(gctx, req, s, &ct) })
	}
	err := g.Wait()
	out.Keys, out.Bytes = ct.keys.Load(), ct.bytes.Load()
	return out, err
}

// replayCounters count the keys and bytes restored, across sources.
type replayCounters struct{ keys, bytes atomic.Int64 }

// replayBatch is one scanned batch of a source: the key names and their
// DUMP and PTTL replies, two per name.
type replayBatch struct {
	names []string
	cmds  []redis.Cmder
}

// replaySource replays one source from its cursor: it scans and dumps while
// req.Writers writers restore the batches already dumped.
func replaySource(ctx context.Context, req ReplayRequest, s *Source, ct *replayCounters) error {
	pending := make(chan replayBatch, req.Writers)
	wg, wctx := errgroup.WithContext(ctx)
	for range req.Writers {
		wg.Go(func() error {
			for b := range pending {
				if err := restoreBatch(wctx, req, s, b, ct); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := scanSource(wctx, req, s, pending)
	if werr := wg.Wait(); err == nil {
		err = werr
	}
	return err
}

// scanSource scans and dumps s batch by batch into pending (closed on
// return), advancing its cursor, until it is done or req.MaxKeys passed.
func scanSource(ctx context.Context, req ReplayRequest, s *Source, pending chan<- replayBatch) error {
	defer close(pending)
	src := req.Source(s.Addr)
	var done int64
	for {
		names, next, err := src.Scan(ctx, s.Cursor, "", int64(req.Batch)).Result()
		if err != nil {
			return fmt.Errorf("shard-%d: scan %s: %w", s.Shard, s.Addr, err)
		}
		if len(names) > 0 {
			p := src.Pipeline()
			for _, name := range names {
				p.Dump(ctx, name)
				p.PTTL(ctx, name)
			}
			cmds, err := p.Exec(ctx)
			if err != nil && err != redis.Nil {
				return fmt.Errorf("shard-%d: dump from %s: %w", s.Shard, s.Addr, err)
			}
			select {
			case pending <- replayBatch{names: names, cmds: cmds}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		s.Cursor = next
		done += int64(len(names))
		s.Keys += int64(len(names))
		if next == 0 {
			s.Done = true
			return nil
		}
		if req.MaxKeys > 0 && done >= req.MaxKeys {
			return nil
		}
	}
}

// restoreBatch restores one batch in the target cluster, each key with its
// remaining TTL, in one pipeline.
func restoreBatch(ctx context.Context, req ReplayRequest, s *Source, b replayBatch, ct *replayCounters) error {
	p := req.Target.Pipeline()
	n := 0
	var size int64
	for j, name := range b.names {
		dump := b.cmds[2*j].(*redis.StringCmd)
		ttl := b.cmds[2*j+1].(*redis.DurationCmd)
		v, err := dump.Result()
		if err == redis.Nil {
			continue // expired meanwhile
		}
		if err != nil {
			return fmt.Errorf("shard-%d: dump %q: %w", s.Shard, name, err)
		}
		d := ttl.Val()
		if d < 0 {
			d = 0 // -1: no expiry
		}
		p.RestoreReplace(ctx, name, d, v)
		n++
		size += int64(len(v))
	}
	if n > 0 {
		if _, err := p.Exec(ctx); err != nil {
			return fmt.Errorf("shard-%d: restore %d keys: %w", s.Shard, n, err)
		}
	}
	ct.keys.Add(int64(n))
	ct.bytes.Add(size)
	return nil
}
