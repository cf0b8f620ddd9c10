package handoff

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// OpenSlot is a slot a node is migrating (To) or importing (From).
type OpenSlot struct {
	Slot     int
	To, From string
}

// ParseOpenSlot reads a nodes.conf or CLUSTER NODES field "[slot->-id]"
// (migrating) or "[slot-<-id]" (importing).
func ParseOpenSlot(f string) (OpenSlot, error) {
	body := strings.TrimSuffix(strings.TrimPrefix(f, "["), "]")
	if slot, to, ok := strings.Cut(body, "->-"); ok {
		n, err := strconv.Atoi(slot)
		return OpenSlot{Slot: n, To: to}, err
	}
	if slot, from, ok := strings.Cut(body, "-<-"); ok {
		n, err := strconv.Atoi(slot)
		return OpenSlot{Slot: n, From: from}, err
	}
	return OpenSlot{}, fmt.Errorf("nodes.conf: open slot %q", f)
}

// OwnOpenSlots is c's own open slots (the fields in brackets of CLUSTER
// NODES' myself line).
func OwnOpenSlots(ctx context.Context, c *redis.Client) ([]OpenSlot, error) {
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster nodes: %w", err)
	}
	var out []OpenSlot
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.Contains(","+f[2]+",", ",myself,") {
			continue
		}
		for _, x := range f[8:] {
			if strings.HasPrefix(x, "[") {
				o, err := ParseOpenSlot(x)
				if err != nil {
					return nil, err
				}
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// Limit bounds OpenSlots (the fence is up meanwhile).
const Limit = 20 * time.Second

// OpenSlots gives newPrimary (node npID), the replica that took the place of
// node self, the slot moves self had in flight (open, from its nodes.conf).
// A slot self migrated to T: the new primary migrates it to T, and T takes
// the new primary for its owner (SETSLOT NODE) and imports it from it. A
// slot it imported from S: the new primary imports it from S, and S
// migrates it to the new primary. The move itself (the migration activity,
// whose next run follows the failover) finishes the slots; a step that
// fails is logged and left to that run.
//
// Only a slot whose other end still moves it with self is handed over:
// Redis marks a slot importing at load time when the node holds keys of a
// slot another node owns ("[slot-<-owner]", no move at all), and a
// finished move leaves the other end stable. Every other primary
// (primaries, node IDs) that imports slots from self has them repointed at
// the new primary too (repointImports). dial gives a client of a node by ID
// (nil when unknown); OpenSlots closes them.
func OpenSlots(ctx context.Context, log *slog.Logger, open []OpenSlot, self string, newPrimary *redis.Client, npID string,
	primaries []string, dial func(id string) *redis.Client) {
	ctx, cancel := context.WithTimeout(ctx, Limit)
	defer cancel()
	ends := map[string]*otherEnd{}
	defer func() {
		for _, e := range ends {
			if e.c != nil {
				e.c.Close()
			}
		}
	}()
	end := func(id string) *otherEnd {
		e := ends[id]
		if e == nil {
			e = &otherEnd{c: dial(id), err: fmt.Errorf("node %s unknown", id)}
			if e.c != nil {
				e.open, e.err = OwnOpenSlots(ctx, e.c)
			}
			ends[id] = e
		}
		return e
	}
	handed := map[OpenSlot]bool{}
	for _, o := range open {
		other, mine := o.To, []any{"migrating", o.To}
		if o.From != "" {
			other, mine = o.From, []any{"importing", o.From}
		}
		e := end(other)
		if e.err != nil {
			log.Warn("fence: open slot not handed over: its other end cannot be read", "slot", o.Slot, "node", other, "err", e.err)
			continue
		}
		if !pointsAt(e.open, o, self) {
			log.Info("fence: open slot not handed over: its other end does not move it with this node "+
				"(a move that finished, or an importing state Redis set at load time)", "slot", o.Slot, "other_end", other)
			continue
		}
		if err := setSlot(ctx, newPrimary, o.Slot, mine...); err != nil {
			log.Warn("fence: hand an open slot to the new primary", "slot", o.Slot, "err", err)
			continue
		}
		if err := repoint(ctx, e.c, o, npID); err != nil {
			log.Warn("fence: repoint the other end of an open slot", "slot", o.Slot, "node", other, "err", err)
			continue
		}
		handed[o] = true
		log.Info("fence: open slot handed to the new primary", "slot", o.Slot, "primary", npID, "other_end", other,
			"migrating", o.To != "")
	}
	repointImports(ctx, log, self, npID, primaries, end, handed)
}

// repointImports has every primary that imports a slot from self import it
// from the new primary np and take np for its owner, beyond the slots
// self itself migrated (handed): a mover opens a whole wave of slots on its
// target before it migrates them one by one from the source, and a target
// importing a slot from a node it hears is a replica now drops the slot's
// owner (Redis skips the newer claim of a slot it imports) and answers
// CLUSTERDOWN to every key until the move runs again (seen: 64 slots, 1-13 s).
func repointImports(ctx context.Context, log *slog.Logger, self, np string, primaries []string,
	end func(id string) *otherEnd, handed map[OpenSlot]bool) {
	for _, id := range primaries {
		if id == self || id == np {
			continue
		}
		e := end(id)
		n := 0
		for _, x := range e.open {
			o := OpenSlot{Slot: x.Slot, To: id}
			if x.From != self || handed[o] {
				continue
			}
			if err := repoint(ctx, e.c, o, np); err != nil {
				log.Warn("fence: repoint an import from this node", "slot", x.Slot, "node", id, "err", err)
				continue
			}
			n++
		}
		if n > 0 {
			log.Info("fence: imports from this node repointed to the new primary", "node", id, "slots", n, "primary", np)
		}
	}
}

// otherEnd is the other end of open slots, read once.
type otherEnd struct {
	c    *redis.Client
	open []OpenSlot
	err  error
}

// pointsAt: the other end's open slots still move o's slot with self: the
// target imports it from self, or the source migrates it to self.
func pointsAt(open []OpenSlot, o OpenSlot, self string) bool {
	for _, x := range open {
		if x.Slot == o.Slot && ((o.To != "" && x.From == self) || (o.From != "" && x.To == self)) {
			return true
		}
	}
	return false
}

// repoint points the other end of open slot o at the new primary np: a
// target (o is migrating) takes np for the slot's owner and imports it
// from np; a source migrates it to np.
func repoint(ctx context.Context, c *redis.Client, o OpenSlot, np string) error {
	if o.From != "" {
		return setSlot(ctx, c, o.Slot, "migrating", np)
	}
	if err := setSlot(ctx, c, o.Slot, "node", np); err != nil {
		return err
	}
	return setSlot(ctx, c, o.Slot, "importing", np)
}

// setSlot runs CLUSTER SETSLOT slot args... on c, again for up to 10 s while
// it fails: a node refuses a node it does not know as a primary yet (the
// new primary's claim reaches it a moment after the takeover).
func setSlot(ctx context.Context, c *redis.Client, slot int, args ...any) error {
	cmd := append([]any{"cluster", "setslot", slot}, args...)
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; pause(ctx, 100*time.Millisecond) {
		if err = c.Do(ctx, cmd...).Err(); err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("cluster setslot %d %v on %s: %w", slot, args, c.Options().Addr, err)
	}
	return nil
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
