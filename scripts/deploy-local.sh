#!/usr/bin/env bash
# deploy-local.sh applies (or deletes) deploy/overlays/local on the local
# stack: dayops' API and worker as Deployments in dayops-system, run by the
# node agent from bin/dayops (image dayops:<tag>).
#
# It writes deploy/overlays/local/generated/ (a kustomize Component, never
# committed) from the stack's dev.env, then runs kubectl apply -k and waits
# for the rollouts. Environment (all optional):
#   DAYOPS_DEV_ENV      the stack's dev.env (default .dayops/dev.env)
#   DAYOPS_IMAGE_TAG    tag of the dayops image (default dev)
#   DAYOPS_NAMESPACES   namespaces dayops manages, comma-separated (default default):
#                       each gets the Roles and NetworkPolicy of deploy/base/managed-namespace
#   DAYOPS_TASK_QUEUE   Temporal task queue (default dayops)
#   DAYOPS_DEPLOY_DATABASE_URL  the audit log's database (default: DATABASE_URL of dev.env)
#   DAYOPS_DEPLOY_TIMEOUT       rollout wait (default 180s)
# Every TEMPORAL_* variable of dev.env (address, namespace, TLS files) is
# handed to dayops as is.
# Usage: scripts/deploy-local.sh apply|delete
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
verb=${1:-apply}
envfile=${DAYOPS_DEV_ENV:-$root/.dayops/dev.env}
if [[ ! -r $envfile ]]; then
	echo "deploy-local: $envfile not found: start the stack first (make dev-up)" >&2
	exit 1
fi
# devenv KEY prints KEY from dev.env without touching this shell's variables.
devenv() { (set +u; set -a; . "$envfile"; set +a; printf '%s' "${!1-}"); }

kubeconfig=$(devenv KUBECONFIG)
state=$(devenv DAYOPS_STATE_DIR)
tag=${DAYOPS_IMAGE_TAG:-dev}
namespaces=${DAYOPS_NAMESPACES:-default}
queue=${DAYOPS_TASK_QUEUE:-dayops}
dburl=${DAYOPS_DEPLOY_DATABASE_URL:-$(devenv DATABASE_URL)}
timeout=${DAYOPS_DEPLOY_TIMEOUT:-180s}
kubectl=("$root/bin/kubectl" --kubeconfig "$kubeconfig")
overlay=deploy/overlays/local
gen=$overlay/generated

# The audit signer's key: the one `dayops-dev run` uses (verify with
# $state/audit-signing.pub).
if [[ ! -e $state/audit-signing.key ]]; then
	"$root/bin/dayops" audit keygen --out "$state/audit-signing" >/dev/null
fi

# The key the API and every worker share to sign and check the signals and
# updates that steer an operation (DAYOPS_CALL_KEYS): made once per stack
# and kept, so that a Pod started later (a roll, a deleted Pod's
# replacement) holds the same key as the others.
if [[ ! -s $state/call-keys ]]; then
	(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/call-keys")
fi

# The generated component: image tag, Secrets, managed namespaces.
rm -rf "$gen"
mkdir -p "$gen"
umask 077
# Temporal over mutual TLS (a stack or test whose dev.env names TLS files):
# copy them into the component for the Secret dayops-temporal-tls.
tls_cert=$(devenv TEMPORAL_TLS_CLIENT_CERT_PATH)
tls_dir=/etc/dayops/temporal-tls
if [[ -n $tls_cert ]]; then
	mkdir -p "$gen/temporal-tls"
	cp "$tls_cert" "$gen/temporal-tls/tls.crt"
	cp "$(devenv TEMPORAL_TLS_CLIENT_KEY_PATH)" "$gen/temporal-tls/tls.key"
	cp "$(devenv TEMPORAL_TLS_SERVER_CA_CERT_PATH)" "$gen/temporal-tls/ca.crt"
fi
{
	echo "DATABASE_URL=$dburl"
	echo "DAYOPS_API_TOKENS=$(devenv DAYOPS_TOKEN)=local-operator:operator,$(devenv DAYOPS_AUDITOR_TOKEN)=local-auditor:auditor"
	echo "DAYOPS_TASK_QUEUE=$queue"
	echo "DAYOPS_NAMESPACES=$namespaces"
	# Pod processes see this machine's file system: backups go under the stack's state.
	echo "DAYOPS_BACKUP_STORE=$state/backups"
	# Hooks of the local stack are served on this host.
	echo "DAYOPS_HOOK_ALLOW=127.0.0.1"
	echo "DAYOPS_INSTANCE_IMAGE=dayops:$tag"
	echo "DAYOPS_CALL_KEYS=$(cat "$state/call-keys")"
	(set +u; set -a; . "$envfile"; set +a; env) | grep '^TEMPORAL_' | grep -v '^TEMPORAL_UI=' | grep -v '^TEMPORAL_TLS_.*_PATH=' || true
	if [[ -n $tls_cert ]]; then
		# The files reach the Pods as the Secret dayops-temporal-tls,
		# mounted where these variables point (as on a real cluster).
		echo "TEMPORAL_TLS_CLIENT_CERT_PATH=$tls_dir/tls.crt"
		echo "TEMPORAL_TLS_CLIENT_KEY_PATH=$tls_dir/tls.key"
		echo "TEMPORAL_TLS_SERVER_CA_CERT_PATH=$tls_dir/ca.crt"
	fi
} >"$gen/config.env"
{
	echo "DATABASE_URL=$dburl"
	echo "DAYOPS_AUDIT_SIGNING_KEY=$state/audit-signing.key"
} >"$gen/signer.env"
umask 022
{
	echo "# Written by scripts/deploy-local.sh; do not edit or commit."
	echo "apiVersion: kustomize.config.k8s.io/v1alpha1"
	echo "kind: Component"
	echo "images:"
	echo "  - {name: dayops, newName: dayops, newTag: \"$tag\"}"
	echo "secretGenerator:"
	echo "  - {name: dayops-config, namespace: dayops-system, envs: [config.env], options: {disableNameSuffixHash: true}}"
	echo "  - {name: dayops-audit-signer, namespace: dayops-system, envs: [signer.env], options: {disableNameSuffixHash: true}}"
	if [[ -n $tls_cert ]]; then
		echo "  - {name: dayops-temporal-tls, namespace: dayops-system, files: [tls.crt=temporal-tls/tls.crt, tls.key=temporal-tls/tls.key, ca.crt=temporal-tls/ca.crt], options: {disableNameSuffixHash: true}}"
		echo "patches:"
		for pair in dayops-api:api dayops-worker:worker; do
			printf '  - target: {kind: Deployment, name: %s}\n    patch: |-\n' "${pair%%:*}"
			printf '      apiVersion: apps/v1\n      kind: Deployment\n      metadata: {name: %s}\n' "${pair%%:*}"
			printf '      spec:\n        template:\n          spec:\n'
			printf '            volumes:\n              - {name: temporal-tls, secret: {secretName: dayops-temporal-tls, defaultMode: 0400}}\n'
			printf '            containers:\n              - name: %s\n                volumeMounts:\n                  - {name: temporal-tls, mountPath: %s, readOnly: true}\n' "${pair#*:}" "$tls_dir"
		done
	fi
	echo "resources:"
	IFS=, read -ra nss <<<"$namespaces"
	for ns in "${nss[@]}"; do
		mkdir -p "$gen/ns-$ns"
		printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\nresources: [../../../../base/managed-namespace]\n' "$ns" >"$gen/ns-$ns/kustomization.yaml"
		echo "  - ns-$ns"
	done
} >"$gen/kustomization.yaml"

case $verb in
apply)
	"${kubectl[@]}" apply -k "$overlay"
	for d in dayops-api dayops-worker dayops-audit-signer; do
		"${kubectl[@]}" -n dayops-system rollout status "deployment/$d" --timeout "$timeout"
	done
	;;
delete)
	"${kubectl[@]}" delete -k "$overlay" --ignore-not-found --wait --timeout "$timeout"
	;;
*)
	echo "usage: $0 apply|delete" >&2
	exit 2
	;;
esac
