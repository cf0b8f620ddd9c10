#!/usr/bin/env bash
# gen-kube-replaces.sh regenerates tools/kube/go.mod's replace block from the
# go.mod of the pinned k8s.io/kubernetes release: every `k8s.io/X => ./staging/...`
# line there becomes `k8s.io/X => k8s.io/X vSTAGING` here, because the staging
# directories do not exist outside the kubernetes repository.
#
# Usage: scripts/gen-kube-replaces.sh [KUBE_VERSION]   (default v1.36.3)
set -euo pipefail
KUBE_VERSION=${1:-v1.36.3}
# Staging modules are tagged v0.MINOR.PATCH for kubernetes v1.MINOR.PATCH.
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/tools/kube/go.mod"

gomod=$(cd "$root/tools/kube" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -f "$gomod" ] || { echo "gen-kube-replaces: no go.mod for k8s.io/kubernetes@${KUBE_VERSION}" >&2; exit 1; }

names=$(sed -n 's/^[[:space:]]*\(k8s\.io\/[A-Za-z0-9._-]*\) => \.\/staging\/.*/\1/p' "$gomod" | sort -u)
[ -n "$names" ] || { echo "gen-kube-replaces: no staging replaces found in $gomod" >&2; exit 1; }

# Drop the previous generated block, then append a fresh one.
tmp=$(mktemp)
awk '/^\/\/ BEGIN generated staging replaces/{skip=1} !skip{print} /^\/\/ END generated staging replaces/{skip=0}' "$mod" >"$tmp"
{
	echo "// BEGIN generated staging replaces (scripts/gen-kube-replaces.sh ${KUBE_VERSION})"
	echo "replace ("
	for n in $names; do printf '\t%s => %s %s\n' "$n" "$n" "$STAGING_VERSION"; done
	echo ")"
	echo "// END generated staging replaces"
} >>"$tmp"
mv "$tmp" "$mod"
echo "gen-kube-replaces: $(echo "$names" | wc -l) replaces for k8s.io/kubernetes@${KUBE_VERSION} -> ${STAGING_VERSION}"
