package slotcopy

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestQueuedErrorOfADiscardedCommit: the copy's commit (SETSLOT MIGRATING
// and UNLINK of the copied keys, in one transaction) on a source whose slot
// is already migrating (a takeover handed the open slots over) with one of
// the keys gone: Redis refuses the UNLINK while queueing (TRYAGAIN) and
// discards the transaction (EXECABORT). The error must carry the refusal,
// which is transient (the activity retries), not the EXECABORT, which
// classifies as permanent and failed a scale-in for good.
func TestQueuedErrorOfADiscardedCommit(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 2})
	keys := []string{"{q}:a", "{q}:b"}
	src, dst := c.Nodes()[0], c.Nodes()[1]
	cl := redis.NewClient(&redis.Options{Addr: src.Addr, Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	if err := cl.Set(ctx, keys[0], "1", 0).Err(); err != nil { // the other node owns the slot
		src, dst = dst, src
		cl = redis.NewClient(&redis.Options{Addr: src.Addr, Protocol: 2, DisableIdentity: true})
		defer cl.Close()
		if err := cl.Set(ctx, keys[0], "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	dstID, err := c.NodeID(ctx, dst.Addr)
	if err != nil {
		t.Fatal(err)
	}
	slot := int(cl.ClusterKeySlot(ctx, keys[0]).Val())
	if err := cl.Do(ctx, "cluster", "setslot", slot, "migrating", dstID).Err(); err != nil {
		t.Fatal(err)
	}
	cmds, err := cl.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "cluster", "setslot", slot, "migrating", dstID)
		p.Unlink(ctx, keys...)
		return nil
	})
	if err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
		t.Fatalf("the transaction: %v, want EXECABORT", err)
	}
	if typ, _ := clusteradmin.Classify(err); typ != clusteradmin.TypePermanent {
		t.Fatalf("EXECABORT itself classified %s: the test no longer shows the failure", typ)
	}
	got := queuedErr(err, cmds)
	typ, retry := clusteradmin.Classify(got)
	t.Logf("queued error: %v (%s, retryable %v)", got, typ, retry)
	if !strings.Contains(got.Error(), "TRYAGAIN") || !retry {
		t.Errorf("queuedErr = %v (%s, retryable %v), want the queued TRYAGAIN, retryable", got, typ, retry)
	}
	if other := queuedErr(redis.TxFailedErr, cmds); other != redis.TxFailedErr {
		t.Errorf("another error changed: %v", other)
	}
}
