package instance

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dayops/dayops/internal/instance/nodesconf"
)

func TestDecide(t *testing.T) {
	const me, r1, r2, other = "aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dddddddddd"
	hist := "1111111111111111111111111111111111111111"
	fresh := Replication{Replid: "2222222222222222222222222222222222222222"} // a restart's new history, offset 0
	replica := func(id string, off int64) Peer {
		return Peer{ID: id, Addr: id + ":6379", Reachable: true, MasterID: me, Repl: Replication{Replid: hist, Offset: off}}
	}
	crash := time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)
	linked := func(id string, off int64, down time.Time) Peer {
		p := replica(id, off)
		p.LinkDownAt = down
		return p
	}
	primary := func(o Observation) Observation {
		o.NodesConf, o.SelfID, o.WasPrimary = true, me, true
		if o.Slots == 0 {
			o.Slots = 1
		}
		return o
	}
	noSlot := func(o Observation) Observation {
		o.Slots = 0
		return o
	}
	type want struct {
		action Action
		target string
	}
	tests := map[string]struct {
		obs  Observation
		want want
	}{
		"new node":   {obs: Observation{}, want: want{Serve, ""}},
		"replica":    {obs: Observation{NodesConf: true, SelfID: me}, want: want{Serve, ""}},
		"no replica": {obs: primary(Observation{AOF: AOFOff, Self: fresh}), want: want{Serve, ""}},
		"persistence none, replica has data": {
			obs:  primary(Observation{AOF: AOFOff, Self: fresh, Replicas: []Peer{replica(r1, 5000)}}),
			want: want{Takeover, r1},
		},
		"persistence none, empty replica": {
			obs:  primary(Observation{AOF: AOFOff, Self: fresh, Replicas: []Peer{replica(r1, 0)}}),
			want: want{Serve, ""},
		},
		// The AOF's last write against the replicas' links (rule 4).
		"AOF loaded, replica connected at its last write": {
			obs:  primary(Observation{AOF: AOFPresent, AOFWritten: crash, Self: fresh, Replicas: []Peer{linked(r1, 5000, crash)}}),
			want: want{Takeover, r1},
		},
		"AOF loaded, replica's link down a second before it (whole seconds)": {
			obs: primary(Observation{AOF: AOFPresent, AOFWritten: crash, Self: fresh,
				Replicas: []Peer{linked(r1, 5000, crash.Add(-time.Second))}}),
			want: want{Takeover, r1},
		},
		"AOF loaded, the replica furthest ahead of those connected": {
			obs: primary(Observation{AOF: AOFPresent, AOFWritten: crash, Self: fresh,
				Replicas: []Peer{linked(r1, 5000, crash), linked(r2, 7000, crash), linked(other, 9000, crash.Add(-time.Minute))}}),
			want: want{Takeover, r2},
		},
		"AOF loaded, replica cut off before its last writes": {
			obs: primary(Observation{AOF: AOFPresent, AOFWritten: crash, Self: fresh,
				Replicas: []Peer{linked(r1, 5000, crash.Add(-10*time.Second))}}),
			want: want{Serve, ""},
		},
		"AOF loaded, replica restarted after its last write (its link down since its own start)": {
			obs: primary(Observation{AOF: AOFPresent, AOFWritten: crash, Self: fresh,
				Replicas: []Peer{func() Peer {
					p := linked(r1, 5000, crash.Add(time.Minute))
					p.StartedAt = crash.Add(time.Minute)
					return p
				}()}}),
			want: want{Serve, ""},
		},
		"AOF loaded, replica connected at its last write, running since long before": {
			obs: primary(Observation{AOF: AOFPresent, AOFWritten: crash, Self: fresh,
				Replicas: []Peer{func() Peer { p := linked(r1, 5000, crash); p.StartedAt = crash.Add(-time.Hour); return p }()}}),
			want: want{Takeover, r1},
		},
		"AOF loaded, replica never linked since it started": {
			obs:  primary(Observation{AOF: AOFPresent, AOFWritten: crash, Self: fresh, Replicas: []Peer{replica(r1, 5000)}}),
			want: want{Serve, ""},
		},
		"AOF loaded, a slot move in flight on this node: the replica takes it over too": {
			obs: primary(Observation{AOF: AOFPresent, AOFWritten: crash, OpenSlots: 3, Self: fresh,
				Replicas: []Peer{linked(r1, 5000, crash)}}),
			want: want{Takeover, r1},
		},
		"owned no slot (AOF): no takeover": {
			obs:  noSlot(primary(Observation{AOF: AOFPresent, AOFWritten: crash, Self: fresh, Replicas: []Peer{linked(r1, 5000, crash)}})),
			want: want{Serve, ""},
		},
		"owned no slot (persistence none): no takeover": {
			obs:  noSlot(primary(Observation{AOF: AOFOff, Self: fresh, Replicas: []Peer{replica(r1, 5000)}})),
			want: want{Serve, ""},
		},
		"AOF loaded, no replica reachable": {
			obs:  primary(Observation{AOF: AOFPresent, AOFWritten: crash, Self: fresh, Replicas: []Peer{{ID: r1, Addr: "x"}}}),
			want: want{Wait, ""},
		},
		"AOF missing": {
			obs:  primary(Observation{AOF: AOFMissing, Self: fresh, Replicas: []Peer{replica(r1, 5000)}}),
			want: want{Takeover, r1},
		},
		"RDB older than the replica": {
			obs: primary(Observation{AOF: AOFOff, Self: Replication{Replid: fresh.Replid, Offset: 3000, Replid2: hist, SecondOffset: 3001},
				Replicas: []Peer{replica(r1, 5000)}}),
			want: want{Takeover, r1},
		},
		"RDB as new as the replica": {
			obs: primary(Observation{AOF: AOFOff, Self: Replication{Replid: fresh.Replid, Offset: 5000, Replid2: hist, SecondOffset: 5001},
				Replicas: []Peer{replica(r1, 5000)}}),
			want: want{Serve, ""},
		},
		"same history, not behind": {
			obs:  primary(Observation{AOF: AOFOff, Self: Replication{Replid: hist, Offset: 6000}, Replicas: []Peer{replica(r1, 5000)}}),
			want: want{Serve, ""},
		},
		"the replica furthest ahead takes over": {
			obs:  primary(Observation{AOF: AOFOff, Self: fresh, Replicas: []Peer{replica(r1, 4000), replica(r2, 5000)}}),
			want: want{Takeover, r2},
		},
		"equal offsets: lowest ID": {
			obs:  primary(Observation{AOF: AOFOff, Self: fresh, Replicas: []Peer{replica(r2, 5000), replica(r1, 5000)}}),
			want: want{Takeover, r1},
		},
		"unreachable replica is skipped": {
			obs:  primary(Observation{AOF: AOFOff, Self: fresh, Replicas: []Peer{{ID: r2, Addr: "x"}, replica(r1, 5000)}}),
			want: want{Takeover, r1},
		},
		"no replica reachable: wait": {
			obs:  primary(Observation{AOF: AOFOff, Self: fresh, Replicas: []Peer{{ID: r1, Addr: "x"}}}),
			want: want{Wait, ""},
		},
		// A shard lost whole, a replica's volume with it: the recover
		// names it gone (Observation.Gone).
		"AOF loaded, the only replica gone with its data: serve": {
			obs:  primary(Observation{AOF: AOFPresent, AOFWritten: crash, Self: fresh, Replicas: []Peer{{ID: r1, Addr: "x"}}, Gone: []string{r1}}),
			want: want{Serve, ""},
		},
		"one replica gone, the other unreachable: wait": {
			obs: primary(Observation{AOF: AOFOff, Self: fresh, Replicas: []Peer{{ID: r1, Addr: "x"}, {ID: r2, Addr: "y"}},
				Gone: []string{r1}}),
			want: want{Wait, ""},
		},
		"one replica gone, the other ahead: it takes over": {
			obs:  primary(Observation{AOF: AOFOff, Self: fresh, Replicas: []Peer{{ID: r1, Addr: "x"}, replica(r2, 5000)}, Gone: []string{r1}}),
			want: want{Takeover, r2},
		},
		"promoted replica: follow": {
			obs: primary(Observation{AOF: AOFPresent, Self: fresh, Replicas: []Peer{replica(r1, 5000),
				{ID: r2, Reachable: true, Primary: true, Slots: 1, Repl: Replication{Replid: "x", Offset: 9000}}}}),
			want: want{Follow, r2},
		},
		"replica of another primary is not ours": {
			obs: primary(Observation{AOF: AOFOff, Self: fresh, Replicas: []Peer{{ID: r1, Reachable: true, MasterID: other,
				Repl: Replication{Replid: hist, Offset: 5000}}}}),
			want: want{Serve, ""},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := Decide(tc.obs)
			got := want{action: d.Action}
			if d.Target != nil {
				got.target = d.Target.ID
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("Decide (-want +got):\n%s\nreason: %s", diff, d.Reason)
			}
			if d.Reason == "" {
				t.Error("no reason")
			}
		})
	}
}

func TestParseRedisArgs(t *testing.T) {
	dir := t.TempDir()
	conf := dir + "/redis.conf"
	if err := writeFile(conf, "port 6379\ndir /data\ncluster-config-file /data/nodes.conf\nappendonly yes\nsave \"\"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := ParseRedisArgs([]string{conf, "--bind", "10.244.1.5", "--requirepass", "pw", "--masterauth", "pw", "--port", "7000"}, "/")
	if err != nil {
		t.Fatal(err)
	}
	want := RedisConfig{Port: 7000, Bind: "10.244.1.5", Dir: "/data", NodesConf: "/data/nodes.conf", AppendOnly: true,
		AppendDir: "/data/appendonlydir", AppendFile: "appendonly.aof", DBFile: "/data/dump.rdb", Requirepass: "pw", Masterauth: "pw"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseRedisArgs (-want +got):\n%s", diff)
	}
	if got.Addr() != "10.244.1.5:7000" {
		t.Errorf("Addr = %s", got.Addr())
	}
}

func TestNeedsFence(t *testing.T) {
	nodes, err := nodesconf.Parse([]byte(`07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
`))
	if err != nil {
		t.Fatal(err)
	}
	if !NeedsFence(nodes, true) || NeedsFence(nodes, false) || NeedsFence(nodes[:1], true) {
		t.Error("NeedsFence: want a fence for a former primary with a replica only")
	}
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
