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
#      status.
# Usage: scripts/test.sh [go test flags...]    e.g. scripts/test.sh -run Service -v
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)

scripts/ensure-deps.sh
scripts/build-tools.sh
go build -o bin/ ./cmd/dayops ./cmd/dayops-dev

started=
if bin/dayops-dev dev status >/dev/null 2>&1; then
	echo "test.sh: using the local stack that is already running (left running afterwards)"
else
	started=1
	trap 'echo "test.sh: stopping the local stack"; bin/dayops-dev dev down || true' EXIT
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
go test "${args[@]}" ./... || status=$?
(cd tools/image && go test "${args[@]}" ./...) || status=$?
echo "test.sh: go test exited $status after $(( $(date +%s) - start ))s${started:+ (stack started by this run)}"
exit $status
