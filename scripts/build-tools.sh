#!/usr/bin/env bash
# build-tools.sh builds the local stack's tools into bin/:
#   bin/temporal  Temporal CLI v1.5.1 (dev server)       from tools/temporal
#   bin/temporal-server    Temporal server v1.29.1 (the   from tools/temporal-server
#   bin/temporal-sql-tool  --temporal=server mode) and its SQL schema tool
#   bin/kube      etcd + kube-apiserver + kube-scheduler  from tools/kube
#                 + kube-controller-manager + kubectl (multi-call)
#   bin/kubectl   symlink to bin/kube (dispatches on its name)
#   bin/versitygw S3-compatible gateway (posix backend)   from tools/versitygw
#                 the S3 backup store of tests and `make run`
# Each tools module is rebuilt only when its go.mod, go.sum, Go sources or
# this script change: the hash of those is kept in bin/.NAME.stamp.
#
# Usage: scripts/build-tools.sh [temporal|temporal-server|kube|versitygw ...]   (default: all)
#        FORCE=1 scripts/build-tools.sh                (ignore stamps)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
mkdir -p "$bin"
export CGO_ENABLED=0
# Read-only go.mod; no VCS stamping (the tools are pinned by go.sum, and
# stamping fails on checkouts git refuses to read, e.g. owned by another user).
export GOFLAGS="${GOFLAGS:--mod=readonly -buildvcs=false}"
KUBE_VERSION=v1.36.3

stamp_of() { # module dir -> hash of what the build depends on
	(cd "$root/tools/$1" && cat go.mod go.sum $(ls ./*.go 2>/dev/null) "$root/scripts/build-tools.sh") | sha256sum | cut -d' ' -f1
}

build_temporal() {
	local version
	version=$(sed -n 's/^require github.com\/temporalio\/cli v//p' "$root/tools/temporal/go.mod")
	(cd "$root/tools/temporal" && go build -trimpath -ldflags "-s -w \
		-X github.com/temporalio/cli/temporalcli.Version=${version}" -o "$bin/temporal" github.com/temporalio/cli/cmd/temporal)
}

# The server version is the one the CLI embeds (tools/temporal-server keeps
# tools/temporal's go.sum), so the two builds share compiled packages.
build_temporal-server() {
	(cd "$root/tools/temporal-server" && go build -trimpath -ldflags "-s -w" -o "$bin/temporal-server" go.temporal.io/server/cmd/server &&
		go build -trimpath -ldflags "-s -w" -o "$bin/temporal-sql-tool" go.temporal.io/server/cmd/tools/sql)
}

build_kube() {
	local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
	(cd "$root/tools/kube" && go build -trimpath -ldflags "-s -w \
		-X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} \
		-X k8s.io/component-base/version.gitMajor=1 \
		-X k8s.io/component-base/version.gitMinor=${minor} \
		-X k8s.io/component-base/version.gitTreeState=clean" -o "$bin/kube" .)
	ln -sfn kube "$bin/kubectl"
}

build_versitygw() {
	(cd "$root/tools/versitygw" && go build -trimpath -ldflags "-s -w" -o "$bin/versitygw" github.com/versity/versitygw/cmd/versitygw)
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(temporal temporal-server kube versitygw)
for name in "${want[@]}"; do
	case "$name" in temporal|temporal-server|kube|versitygw) ;; *) echo "build-tools: unknown tool $name" >&2; exit 2 ;; esac
	stamp="$bin/.$name.stamp"
	sum=$(stamp_of "$name")
	if [ -z "${FORCE:-}" ] && [ -x "$bin/$name" ] && { [ "$name" != temporal-server ] || [ -x "$bin/temporal-sql-tool" ]; } &&
		[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
		continue # up to date: stay quiet
	fi
	echo "build-tools: building bin/$name from tools/$name (a cold build takes several minutes)..."
	start=$(date +%s)
	"build_$name"
	echo "$sum" >"$stamp"
	echo "build-tools: bin/$name built in $(( $(date +%s) - start ))s ($(du -h "$bin/$name" | cut -f1))"
done
