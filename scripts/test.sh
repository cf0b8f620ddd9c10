#!/usr/bin/env bash
# test.sh runs every test against ONE shared local stack:
#   1. installs missing packages and builds the tools (both quiet when done),
#   2. builds bin/dayops and bin/dayops-dev and starts the stack with
#      `bin/dayops-dev dev up`
#      (a stack that is already running is used as it is and left running),
#   3. runs `go test ./...` with this script's arguments passed through
#      (default -timeout 30m and -count=1 unless given), with DAYOPS_DEV_ENV and
#      the variables of .dayops/dev.env exported so that devtest finds it,
#      then the same in tools/image (the image builder's own module: builds
#      the product image twice and checks it),
#   4. always stops the stack it started (trap), and exits with go test's
#      status; when a test failed, the last thing it prints is a short summary
#      (the FAIL lines and the failing tests' last file:line messages; the whole
#      output is in .dayops/test.log), so that the tail a CI run keeps names
#      what failed.
# Usage: scripts/test.sh [go test flags...]    e.g. scripts/test.sh -run Service -v
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)

scripts/ensure-deps.sh
scripts/build-tools.sh
go build -o bin/ ./cmd/dayops ./cmd/dayops-dev

log="$root/.dayops/test.log"
mkdir -p "$root/.dayops"
: >"$log"
# summary prints what failed, shortest first: the FAIL lines, then the last
# file:line messages of the failing tests' output (t.Error, t.Fatal and
# t.Log lines look alike there), each cut to 300 characters.
summary() {
	grep -qE -- '^\s*--- FAIL|^FAIL|^panic:' "$log" 2>/dev/null || return 0
	echo "test.sh: what failed (whole output: $log):"
	grep -E -- '^\s*--- FAIL|^panic:|^FAIL\s' "$log" | cut -c1-300 | tail -n 25
	echo "test.sh: the failing tests' last messages:"
	awk '/^\s*--- FAIL/ {f=1; next} /^\s*--- (PASS|SKIP)/ {f=0} /^(ok|FAIL|PASS)\s/ {f=0} f && /_test\.go:[0-9]+: / {print}' "$log" |
		cut -c1-300 | tail -n 15
}
started=
if bin/dayops-dev dev status >/dev/null 2>&1; then
	echo "test.sh: using the local stack that is already running (left running afterwards)"
	trap 'summary' EXIT
else
	started=1
	trap 'echo "test.sh: stopping the local stack"; bin/dayops-dev dev down || true; summary' EXIT
	bin/dayops-dev dev up
fi

set -a
# shellcheck disable=SC1091
. .dayops/dev.env
set +a
export DAYOPS_DEV_ENV="$root/.dayops/dev.env"

args=("$@")
case " ${args[*]-} " in *" -timeout"*) ;; *) args=(-timeout 30m "${args[@]}") ;; esac
# Tests talk to live services (PostgreSQL, redis-server, Temporal, Kubernetes):
# never serve a result from Go's test cache unless the caller asks (-count=N).
case " ${args[*]-} " in *" -count"*) ;; *) args=(-count=1 "${args[@]}") ;; esac
status=0
go test "${args[@]}" ./... 2>&1 | tee -a "$log" || status=$?
(cd tools/image && go test "${args[@]}" ./...) 2>&1 | tee -a "$log" || status=$?
echo "test.sh: go test exited $status after $(( $(date +%s) - start ))s${started:+ (stack started by this run)}"
exit $status
