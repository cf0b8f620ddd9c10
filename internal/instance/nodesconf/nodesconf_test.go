package nodesconf

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	in := `07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
e7d1 127.0.0.1:30001@40001,host myself,master - 0 0 1 connected 0-5460 [5461->-292f] [16000-<-292f]
292f 127.0.0.1:30002@40002 master,fail - 0 1426238316232 2 connected 5461-10922
vars currentEpoch 4 lastVoteEpoch 0
`
	nodes, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	self, ok := Self(nodes)
	if !ok || self.ID != "e7d1" || !self.Primary() || self.Slots != 1 || self.OpenSlots != 2 || self.Addr != "127.0.0.1:30001" {
		t.Fatalf("self = %+v", self)
	}
	if want := []OpenSlot{{Slot: 5461, To: "292f"}, {Slot: 16000, From: "292f"}}; !slices.Equal(self.Open, want) {
		t.Errorf("open slots %+v, want %+v", self.Open, want)
	}
	if _, err := Parse([]byte("e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected [x->-292f]\n")); err == nil {
		t.Error("want an error for a malformed open slot")
	}
	reps := ReplicasOf(nodes, "e7d1")
	if len(reps) != 1 || reps[0].ID != "07c3" {
		t.Fatalf("replicas = %+v", reps)
	}
	if !nodes[2].Failed() {
		t.Error("fail flag not seen")
	}
}
