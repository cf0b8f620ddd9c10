package clusteradmin

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/topology"
)

func TestParseClusterNodes(t *testing.T) {
	text := `a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-100 200 [101->-b2] [300-<-c3]
b2 127.0.0.1:7001@17001,host.example master - 0 1 2 connected 101-199
c3 127.0.0.1:7002@17002 slave a1 0 1 1 disconnected
`
	v, err := ParseClusterNodes(text)
	if err != nil {
		t.Fatal(err)
	}
	want := NodeInfo{
		ID: "a1", Addr: "127.0.0.1:7000", BusPort: 17000, Flags: []string{"myself", "master"}, Connected: true,
		Slots:     topology.Ranges{{Start: 0, End: 100}, {Start: 200, End: 200}},
		Migrating: map[int]string{101: "b2"},
		Importing: map[int]string{300: "c3"},
	}
	if diff := cmp.Diff(want, v.Myself); diff != "" {
		t.Errorf("myself (-want +got):\n%s", diff)
	}
	if got := v.Nodes["b2"].Addr; got != "127.0.0.1:7001" {
		t.Errorf("b2 addr = %q", got)
	}
	if got := v.Nodes["c3"]; got.PrimaryID != "a1" || got.Connected || got.IsPrimary() {
		t.Errorf("c3 = %+v", got)
	}
	if got := v.Owner(150); got != "b2" {
		t.Errorf("owner(150) = %q", got)
	}
	if _, err := ParseClusterNodes("b2 127.0.0.1:7001@17001 master - 0 1 2 connected"); err == nil {
		t.Error("want error without a myself line")
	}
	for _, bad := range []string{"[x->-b2]", "[y-<-c3]"} {
		_, err := ParseClusterNodes("a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-100 " + bad)
		if want := fmt.Sprintf("parse open slot %q", bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %s", bad, err, want)
		}
	}
}

// TestOrphanedImports: a slot the node imports counts as orphaned when its
// view has no owner for it (Redis dropped the owner when it turned replica)
// or a failed one; one owned by a live primary does not.
func TestOrphanedImports(t *testing.T) {
	text := `t1 127.0.0.1:7000@17000 myself,master - 0 0 4 connected 0-99 [100-<-s1] [101-<-s1] [102-<-f3] [103-<-b2]
s1 127.0.0.1:7001@17001 slave r1 0 1 5 connected
r1 127.0.0.1:7002@17002 master - 0 1 5 connected 100 104-200
f3 127.0.0.1:7003@17003 master,fail - 0 1 3 disconnected 102
b2 127.0.0.1:7004@17004 master - 0 1 2 connected 103
`
	v, err := ParseClusterNodes(text)
	if err != nil {
		t.Fatal(err)
	}
	// 100: owned by r1 (a live primary: repaired, or heard before the
	// import started); 101: no owner; 102: a failed owner; 103: live.
	if diff := cmp.Diff([]int{101, 102}, OrphanedImports(v)); diff != "" {
		t.Errorf("orphaned imports (-want +got):\n%s", diff)
	}
}

func TestClassify(t *testing.T) {
	tests := map[string]struct {
		err       error
		typ       string
		retryable bool
	}{
		"tryagain":           {redisErr("TRYAGAIN Multiple keys request during rehashing of slot"), TypeTransient, true},
		"clusterdown":        {redisErr("CLUSTERDOWN The cluster is down"), TypeTransient, true},
		"loading":            {redisErr("LOADING Redis is loading the dataset in memory"), TypeTransient, true},
		"moved":              {redisErr("MOVED 3999 127.0.0.1:6381"), TypeTransient, true},
		"ask":                {redisErr("ASK 3999 127.0.0.1:6381"), TypeTransient, true},
		"ioerr":              {redisErr("IOERR error or timeout reading to target instance"), TypeTransient, true},
		"target clusterdown": {redisErr("ERR Target instance replied with error: CLUSTERDOWN The cluster is down"), TypeTransient, true},
		"target loading":     {redisErr("ERR Target instance replied with error: LOADING Redis is loading"), TypeTransient, true},
		"target noauth":      {redisErr("ERR Target instance replied with error: NOAUTH Authentication required."), TypePermanent, false},
		"reset":              {fmt.Errorf("read: %w", io.EOF), TypeTransient, true},
		"wrong args":         {redisErr("ERR wrong number of arguments"), TypePermanent, false},
		"too big":            {fmt.Errorf("wave: %w", &KeyTooBigError{Key: "k", Slot: 1}), TypeKeyTooBig, false},
		"busy":               {&BusyKeyConflictError{Key: "k"}, TypeBusyKeyConflict, false},
		"plan":               {&PlanConflictError{Slot: 3}, TypePlanConflict, false},
		"precond":            {&PreconditionError{Addr: "x"}, TypePrecondition, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			typ, retry := Classify(tc.err)
			if diff := cmp.Diff([]any{tc.typ, tc.retryable}, []any{typ, retry}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// redisErr builds a server error as go-redis returns it.
func redisErr(msg string) error {
	var e redis.Error = protoErr(msg)
	return e
}

type protoErr string

func (e protoErr) Error() string { return string(e) }
func (protoErr) RedisError()     {}

func TestIsTransientWrapped(t *testing.T) {
	if !IsTransient(fmt.Errorf("x: %w", errRoleInFlight)) {
		t.Error("role change in flight should be transient")
	}
	if IsTransient(errors.New("plain")) {
		t.Error("plain error should not be transient")
	}
}
