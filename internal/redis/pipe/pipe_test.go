package pipe_test

import (
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/pipe"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestExecRefusedConnection: a node that refuses the client's password (a
// node its instance manager fences with a one-time password) fails the
// pipeline as a whole, for Exec and Tx; go-redis returns that error without
// setting it on the commands, which read as successes (nil errors, zero
// values) to a caller that inspects them one by one. Errors of single
// commands still come back on the commands, with no pipeline error.
func TestExecRefusedConnection(t *testing.T) {
	ctx := t.Context()
	admin := redistest.Standalone(t)
	addr := admin.Options().Addr
	if err := admin.ConfigSet(ctx, "requirepass", "fence-once").Err(); err != nil {
		t.Fatal(err)
	}
	for _, password := range []string{"the-cluster-password", ""} { // WRONGPASS, NOAUTH
		c := redis.NewClient(&redis.Options{Addr: addr, Password: password, Protocol: 2, DisableIdentity: true})
		defer c.Close()
		for name, run := range map[string]func() ([]redis.Cmder, error){
			"exec": func() ([]redis.Cmder, error) {
				return pipe.Exec(ctx, c, addr, func(p redis.Pipeliner) { p.Set(ctx, "k", "v", 0) })
			},
			"tx": func() ([]redis.Cmder, error) {
				return pipe.Tx(ctx, c, addr, func(p redis.Pipeliner) { p.Set(ctx, "k", "v", 0) })
			},
		} {
			// Refused either way: the pipeline's error (WRONGPASS at the
			// connection's AUTH) or each command's own (NOAUTH).
			cmds, err := run()
			if err == nil && slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return c.Err() == nil }) {
				t.Errorf("%s with password %q on a node that refuses it: no error (commands %v)", name, password, cmds)
			}
		}
	}

	ok := redis.NewClient(&redis.Options{Addr: addr, Password: "fence-once", Protocol: 2, DisableIdentity: true})
	defer ok.Close()
	cmds, err := pipe.Exec(ctx, ok, addr, func(p redis.Pipeliner) {
		p.Set(ctx, "s", "text", 0)
		p.Incr(ctx, "s") // not an integer: this command's error only
		p.Get(ctx, "missing")
	})
	if err != nil {
		t.Fatalf("a pipeline with one failing command: %v, want the commands", err)
	}
	if cmds[0].Err() != nil || cmds[1].Err() == nil || cmds[2].Err() != redis.Nil {
		t.Errorf("per-command errors: %v, %v, %v", cmds[0].Err(), cmds[1].Err(), cmds[2].Err())
	}
}
