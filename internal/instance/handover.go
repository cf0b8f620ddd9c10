package instance

import (
	"context"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/instance/handoff"
	"github.com/dayops/dayops/internal/instance/nodesconf"
)

// handOverOpenSlots gives the replica that took this node's place (np) the
// slot moves this node had in flight, nodes.conf's [slot->-id] and
// [slot-<-id], and repoints the other primaries' imports from this node
// (handoff.OpenSlots).
func handOverOpenSlots(ctx context.Context, log *slog.Logger, nodes []nodesconf.Node, self nodesconf.Node, np *Peer, pass string) {
	if len(self.Open) == 0 {
		return
	}
	addrOf := map[string]string{}
	var primaries []string
	for _, n := range nodes {
		addrOf[n.ID] = n.Addr
		if n.Primary() && !n.Failed() {
			primaries = append(primaries, n.ID)
		}
	}
	primary := peerClient(np.Addr, pass)
	defer primary.Close()
	handoff.OpenSlots(ctx, log, self.Open, self.ID, primary, np.ID, primaries, func(id string) *redis.Client {
		if addrOf[id] == "" {
			return nil
		}
		return peerClient(addrOf[id], pass)
	})
}
