package backupstore_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/testutil/s3test"
)

// TestStores runs one contract against both backends: the directory and S3
// on a real versitygw.
func TestStores(t *testing.T) {
	t.Run("dir", func(t *testing.T) {
		s, err := backupstore.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		contract(t, s)
	})
	t.Run("s3", func(t *testing.T) {
		srv := s3test.Start(t)
		contract(t, srv.Open(t, "backups", "team-a"))
	})
}

func contract(t *testing.T, s backupstore.Store) {
	ctx := t.Context()
	// A file larger than several S3 parts, streamed from a generator.
	const size = 23<<20 + 17
	gen := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{7}), size) }
	h := sha256.New()
	if _, err := io.Copy(h, gen()); err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	obj, err := s.Put(ctx, "b1/shard-0.rdb", gen())
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != size || obj.SHA256 != want {
		t.Fatalf("put: %+v, want size %d sha %s", obj, size, want)
	}
	got, err := backupstore.Checksum(ctx, s, "b1/shard-0.rdb")
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256 != want || got.Size != size {
		t.Fatalf("checksum after get: %+v", got)
	}
	if _, err := s.Put(ctx, "b1/manifest.json", bytes.NewReader([]byte(`{"id":"b1"}`))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "b2/manifest.json", bytes.NewReader([]byte(`{"id":"b2"}`))); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "b1/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key != "b1/manifest.json" || list[1].Key != "b1/shard-0.rdb" || list[1].Size != size {
		t.Fatalf("list b1/: %+v", list)
	}
	all, err := s.List(ctx, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("list all: %+v %v", all, err)
	}
	st, err := s.Stat(ctx, "b2/manifest.json")
	if err != nil || st.Size != int64(len(`{"id":"b2"}`)) {
		t.Fatalf("stat: %+v %v", st, err)
	}
	if _, err := s.Get(ctx, "b3/manifest.json"); !errors.Is(err, backupstore.ErrNotFound) {
		t.Fatalf("get missing: %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(ctx, "b3/manifest.json"); !errors.Is(err, backupstore.ErrNotFound) {
		t.Fatalf("stat missing: %v, want ErrNotFound", err)
	}
	// Overwrite replaces the whole content.
	if _, err := s.Put(ctx, "b2/manifest.json", bytes.NewReader([]byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, "b2/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != `{}` {
		t.Fatalf("after overwrite: %q", b)
	}
	for _, k := range []string{"b1/shard-0.rdb", "b1/manifest.json", "b1/manifest.json"} {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatalf("delete %s: %v", k, err)
		}
	}
	if list, _ := s.List(ctx, "b1/"); len(list) != 0 {
		t.Fatalf("after delete: %+v", list)
	}
	if _, err := s.Put(ctx, "../escape", bytes.NewReader(nil)); err == nil {
		t.Fatal("a key with .. was accepted")
	}
}

func TestRetention(t *testing.T) {
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	var ms []backupstore.Manifest
	for d := 9; d >= 0; d-- { // ten backups, one a day, oldest first
		ms = append(ms, backupstore.Manifest{ID: fmt.Sprintf("b%d", 9-d), StartedAt: now.Add(-time.Duration(d) * 24 * time.Hour)})
	}
	ids := func(ms []backupstore.Manifest) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.ID)
		}
		return strings.Join(s, ",")
	}
	for name, tc := range map[string]struct {
		r    backupstore.Retention
		want string
	}{
		"keep all":           {backupstore.Retention{}, ""},
		"last 3":             {backupstore.Retention{KeepLast: 3}, "b0,b1,b2,b3,b4,b5,b6"},
		"within 2 days":      {backupstore.Retention{KeepWithin: 48*time.Hour + time.Minute}, "b0,b1,b2,b3,b4,b5,b6"},
		"last 5 or 2 days":   {backupstore.Retention{KeepLast: 5, KeepWithin: 48 * time.Hour}, "b0,b1,b2,b3,b4"},
		"last 20":            {backupstore.Retention{KeepLast: 20}, ""},
		"within 1h (1 kept)": {backupstore.Retention{KeepWithin: time.Hour}, "b0,b1,b2,b3,b4,b5,b6,b7,b8"},
	} {
		if got := ids(tc.r.Expired(ms, now)); got != tc.want {
			t.Errorf("%s: expired %q, want %q", name, got, tc.want)
		}
	}
}
