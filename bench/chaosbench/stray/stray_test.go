package stray

import "testing"

func TestAsPrimary(t *testing.T) {
	conf := "aaa 10.0.0.1:6379@16379 master - 0 1 1 connected 0-8191\n" +
		"bbb 10.0.0.2:6379@16379 myself,slave aaa 0 0 1 connected\n" +
		"vars currentEpoch 3 lastVoteEpoch 0\n"
	got, err := AsPrimary([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	want := "aaa 10.0.0.1:6379@16379 master - 0 1 1 connected 0-8191\n" +
		"bbb 10.0.0.2:6379@16379 myself,master - 0 0 1 connected\n" +
		"vars currentEpoch 3 lastVoteEpoch 0\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := AsPrimary([]byte("aaa 10.0.0.1:6379@16379 myself,master - 0 1 1 connected 0-8191\n")); err == nil {
		t.Error("a primary's myself line: want an error")
	}
}
