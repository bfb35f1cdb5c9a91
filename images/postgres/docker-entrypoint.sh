#!/bin/bash
# Entrypoint of mooring/postgres:15, modelled on the official postgres image:
#   - as root: own $PGDATA and the socket dir, then re-exec itself as the postgres user;
#   - on an empty $PGDATA: initdb, create POSTGRES_DB, run /docker-entrypoint-initdb.d/*;
#   - exec postgres in the foreground, listening on every address with password auth.
# Environment: POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
# POSTGRES_USER (default postgres), POSTGRES_DB (default $POSTGRES_USER),
# POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256);
# each of POSTGRES_PASSWORD/USER/DB may come from a file named by <VAR>_FILE.
set -Eeuo pipefail

log() { echo "postgres-entrypoint: $*" >&2; }

# file_env VAR [DEFAULT]: VAR from $VAR, or from the file named by ${VAR}_FILE, or DEFAULT.
file_env() {
	local var="$1" def="${2:-}" fvar="${1}_FILE"
	if [ -n "${!var:-}" ] && [ -n "${!fvar:-}" ]; then
		log "both $var and $fvar are set; set only one"
		exit 1
	fi
	local val="$def"
	if [ -n "${!var:-}" ]; then
		val="${!var}"
	elif [ -n "${!fvar:-}" ]; then
		val="$(<"${!fvar}")"
	fi
	export "$var"="$val"
	unset "$fvar"
}

# As root: prepare directories (never touching files below $PGDATA), then drop to postgres.
drop_privileges() {
	mkdir -p "$PGDATA" /var/run/postgresql
	if [ "$(stat -c %U "$PGDATA")" != postgres ]; then
		chown postgres:postgres "$PGDATA"
	fi
	chmod 700 "$PGDATA"
	chown postgres:postgres /var/run/postgresql
	chmod 2775 /var/run/postgresql
	export HOME=/var/lib/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
}

check_auth_settings() {
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		log "POSTGRES_PASSWORD is not set: set it (or POSTGRES_HOST_AUTH_METHOD=trust for a throwaway database)"
		exit 1
	fi
}

# initdb ARGS...: a cluster whose superuser is POSTGRES_USER, UTF-8, local trust, host password.
run_initdb() {
	# shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words on purpose
	initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" \
		--auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" \
		--encoding=UTF8 --locale=C.UTF-8 "$@" ${POSTGRES_INITDB_ARGS:-} >/dev/null
}

# The password goes to initdb through a private pipe, never on a command line.
init_cluster() {
	log "initialising a new cluster in $PGDATA"
	if [ -n "$POSTGRES_PASSWORD" ]; then
		run_initdb --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD")
	else
		run_initdb
	fi
	{
		echo
		echo "# added by mooring's entrypoint: password auth from any network address"
		echo "host all all all $POSTGRES_HOST_AUTH_METHOD"
	} >>"$PGDATA/pg_hba.conf"
	{
		echo "listen_addresses = '*'"
		echo "jit = off  # the image leaves out LLVM"
	} >>"$PGDATA/postgresql.conf"
}

# The setup server listens on a private socket only, so healthchecks (pg_isready on the default
# socket) and clients on the network do not see it as ready before setup has finished.
INIT_SOCKET_DIR=/tmp/postgres-init

start_setup_server() {
	mkdir -p "$INIT_SOCKET_DIR"
	pg_ctl --pgdata="$PGDATA" --wait --silent \
		-o "-c listen_addresses='' -c unix_socket_directories=$INIT_SOCKET_DIR" start
}

stop_setup_server() {
	pg_ctl --pgdata="$PGDATA" --wait --silent -m fast stop
}

setup_psql() {
	psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --host="$INIT_SOCKET_DIR" \
		--username="$POSTGRES_USER" "$@"
}

create_database() {
	if [ "$POSTGRES_DB" = postgres ]; then
		return
	fi
	log "creating database $POSTGRES_DB owned by $POSTGRES_USER"
	setup_psql --dbname=postgres --set db="$POSTGRES_DB" --set owner="$POSTGRES_USER" <<-'SQL'
		CREATE DATABASE :"db" OWNER :"owner";
	SQL
}

run_init_scripts() {
	local f
	# shellcheck disable=SC1090  # the *.sh init scripts are only known at run time
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) log "running $f"; . "$f" ;;
			*.sql) log "running $f"; setup_psql --dbname="$POSTGRES_DB" -f "$f" ;;
			*.sql.gz) log "running $f"; gunzip -c "$f" | setup_psql --dbname="$POSTGRES_DB" ;;
			*) if [ -e "$f" ]; then log "ignoring $f"; fi ;;
		esac
	done
}

main() {
	if [ "${1:-}" = "" ] || [ "${1:0:1}" = "-" ]; then
		set -- postgres "$@"
	fi
	if [ "$1" != postgres ]; then
		exec "$@"
	fi
	if [ "$(id -u)" = 0 ]; then
		drop_privileges "$@"
	fi
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	export POSTGRES_HOST_AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
	if [ ! -s "$PGDATA/PG_VERSION" ]; then
		check_auth_settings
		init_cluster
		start_setup_server
		create_database
		run_init_scripts
		stop_setup_server
		log "setup complete; database $POSTGRES_DB, user $POSTGRES_USER"
	fi
	unset POSTGRES_PASSWORD
	shift
	exec postgres -D "$PGDATA" "$@"
}

main "$@"
