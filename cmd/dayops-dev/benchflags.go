package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// stackTarget points a benchmark at the running local stack: each non-nil
// field is a flag of the benchmark, and what the flags leave empty comes
// from the environment (what .dayops/dev.env exports), then the stack's
// default.
type stackTarget struct {
	temporal, database, kubeconfig *string
	// databaseDoc ends the --database-url help: what the benchmark does
	// on that server.
	databaseDoc string
}

func (s stackTarget) addFlags(f *pflag.FlagSet) {
	if s.temporal != nil {
		f.StringVar(s.temporal, "temporal-address", "", "Temporal frontend (env TEMPORAL_ADDRESS, default 127.0.0.1:7233)")
	}
	if s.database != nil {
		f.StringVar(s.database, "database-url", "", "PostgreSQL server URL (env DATABASE_URL); "+s.databaseDoc)
	}
	if s.kubeconfig != nil {
		f.StringVar(s.kubeconfig, "kubeconfig", "", "the stack's kubeconfig (env KUBECONFIG)")
	}
}

// resolve fills the empty fields from the environment and the defaults.
func (s stackTarget) resolve() {
	for _, v := range []struct {
		to       *string
		env, def string
	}{
		{s.temporal, "TEMPORAL_ADDRESS", "127.0.0.1:7233"},
		{s.database, "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"},
		{s.kubeconfig, "KUBECONFIG", ""},
	} {
		if v.to != nil && *v.to == "" {
			*v.to = envOr(v.env, v.def)
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// intList parses a comma-separated flag value of whole numbers.
func intList(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--%s: %q is not a number", flag, f)
		}
		out = append(out, n)
	}
	return out, nil
}
