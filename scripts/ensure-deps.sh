#!/usr/bin/env bash
# ensure-deps.sh installs what the local stack needs from Debian packages and
# makes sure PostgreSQL answers on 127.0.0.1:5432. Idempotent and quiet when
# everything is there; runs unattended (CI runs it as root with no stdin).
#
#   redis-server, redis-tools   the node agent maps redis images to them
#   iproute2                    `ip route add local 10.244.0.0/16 dev lo`
#   postgresql                  the event store (only if no server answers)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! pg_up && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
	missing+=(postgresql)
fi

if [ ${#missing[@]} -gt 0 ]; then
	echo "ensure-deps: installing ${missing[*]}"
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! pg_up; then
	echo "ensure-deps: starting PostgreSQL"
	if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql/*/main >/dev/null 2>&1; then
		ver=$(ls /etc/postgresql | sort -V | tail -1)
		$SUDO pg_ctlcluster "$ver" main start || true
	elif command -v service >/dev/null 2>&1; then
		$SUDO service postgresql start || true
	fi
	for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
	pg_up || { echo "ensure-deps: PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
	# Tests and dayops connect as postgres over TCP without a password.
	hba=$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | sort -V | tail -1 || true)
	if [ -n "$hba" ] && ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
		echo "ensure-deps: allowing trust auth on 127.0.0.1 in $hba"
		$SUDO sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
		$SUDO pg_ctlcluster "$(basename "$(dirname "$(dirname "$hba")")")" main reload || true
	fi
fi
