// Command unitrun is what `make unit` runs: `go test` for a set of
// packages, except that the test binaries are kept between runs and linked
// again only when something they are built from changed.
//
// Why: `go test` caches compiled packages but links every test binary again
// on each run, and with -count=1 (results not cached) the links of the
// module's ~80 test binaries (client-go, the Temporal SDK) took two thirds of
// the CPU of a warm `make unit` on a 2-core machine. `go test -c -o DIR/`
// compares the build ID of the binary already in DIR with the one it would
// link and skips the link when they match, as `go build -o` does; unitrun
// builds every binary that way into -cache, then runs them like `go test`
// does: each in its package's directory, -p at a time (the packages that
// took longest in the last run first: durations.json in the cache; the
// binaries are built in four batches in that order, so that after a change
// that relinks everything the first tests run while the rest link),
// printing
// "ok  pkg  1.234s" for a package that passed and its whole output followed
// by "FAIL  pkg" for one that did not. The exit status is 1 when a build or
// a package failed.
//
// Test flags after the packages are given as to `go test` (-run X, -v,
// -short, -parallel 6) and passed to the binaries as -test.run X etc.; build
// flags are -ldflags and -vet only (unitrun always builds with -vet=off).
//
// Usage:
//
//	unitrun [-p 4] [-cache DIR] [-ldflags '-s -w'] packages... [-- test flags]
package main
