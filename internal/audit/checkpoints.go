package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/eventstore"
)

// CheckpointPrefix is where checkpoint copies live in the backup store:
// audit/checkpoints/<seq, 12 digits>.json, one JSON eventstore.Checkpoint
// each. Backup IDs never contain "/", so this never looks like a backup.
const CheckpointPrefix = apiv1.AuditCheckpointCopyPrefix

// CheckpointKey is the backup-store key of checkpoint seq.
func CheckpointKey(seq int64) string { return fmt.Sprintf("%s%012d.json", CheckpointPrefix, seq) }

// CopyCheckpoints copies every checkpoint of s not yet in bs to bs and
// returns how many it copied. A copy is never overwritten: once a signed
// checkpoint is outside the database, rewriting the database (checkpoints
// included) cannot change what verify --backup-store compares with. Run it
// from the signer (SignerOptions.AfterSign) with credentials the database's
// writers do not have.
func CopyCheckpoints(ctx context.Context, s *eventstore.Store, bs backupstore.Store) (int, error) {
	cps, err := s.Checkpoints(ctx)
	if err != nil {
		return 0, err
	}
	objs, err := bs.List(ctx, CheckpointPrefix)
	if err != nil {
		return 0, fmt.Errorf("list checkpoint copies: %w", err)
	}
	have := make(map[string]bool, len(objs))
	for _, o := range objs {
		have[o.Key] = true
	}
	n := 0
	for _, c := range cps {
		key := CheckpointKey(c.Seq)
		if have[key] {
			continue
		}
		b, err := json.Marshal(c)
		if err != nil {
			return n, err
		}
		if _, err := bs.Put(ctx, key, bytes.NewReader(b)); err != nil {
			return n, fmt.Errorf("copy checkpoint %d to %s: %w", c.Seq, bs, err)
		}
		n++
	}
	return n, nil
}

// ReadCheckpointCopies returns the checkpoint copies in bs in seq order,
// for eventstore.VerifyOptions.External.
func ReadCheckpointCopies(ctx context.Context, bs backupstore.Store) ([]eventstore.Checkpoint, error) {
	objs, err := bs.List(ctx, CheckpointPrefix)
	if err != nil {
		return nil, fmt.Errorf("list checkpoint copies: %w", err)
	}
	var out []eventstore.Checkpoint
	for _, o := range objs {
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, CheckpointPrefix), ".json")
		seq, err := strconv.ParseInt(name, 10, 64)
		if err != nil || !strings.HasSuffix(o.Key, ".json") {
			continue // not ours
		}
		r, err := bs.Get(ctx, o.Key)
		if errors.Is(err, backupstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(r, 64<<10))
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", o.Key, err)
		}
		var c eventstore.Checkpoint
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("checkpoint copy %s: %w", o.Key, err)
		}
		if c.Seq != seq {
			return nil, fmt.Errorf("checkpoint copy %s holds checkpoint %d", o.Key, c.Seq)
		}
		out = append(out, c)
	}
	return out, nil
}
