#!/bin/bash
# Entrypoint of mooring/mariadb:10.11, modelled on the official mariadb image:
#   - on an empty /var/lib/mysql: install the system tables, start a setup server on a private
#     socket (no network), set root's password, create MARIADB_DATABASE and MARIADB_USER;
#   - exec mariadbd in the foreground as the mysql user.
# Environment (each MARIADB_X may be given as MYSQL_X): MARIADB_ROOT_PASSWORD (required unless
# MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1), MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD.
# Passwords reach the server through SQL on stdin, never on a command line.
set -Eeuo pipefail

DATADIR=/var/lib/mysql
INIT_SOCKET=/run/mysqld/mariadb-init.sock

log() { echo "mariadb-entrypoint: $*" >&2; }

# env_of NAME: $MARIADB_NAME, else $MYSQL_NAME, else empty.
env_of() {
	local mariadb="MARIADB_$1" mysql="MYSQL_$1"
	printf '%s' "${!mariadb:-${!mysql:-}}"
}

# sql_string TEXT: TEXT as a quoted SQL string literal.
sql_string() {
	local text=${1//\\/\\\\}
	printf "'%s'" "${text//\'/\'\'}"
}

check_settings() {
	if [ -z "$(env_of ROOT_PASSWORD)" ] && [ -z "$(env_of ALLOW_EMPTY_ROOT_PASSWORD)" ] \
		&& [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ]; then
		log "MARIADB_ROOT_PASSWORD is not set: set it (or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 for a throwaway server)"
		exit 1
	fi
}

setup_sql() {
	local root user password database
	root=$(env_of ROOT_PASSWORD)
	user=$(env_of USER)
	password=$(env_of PASSWORD)
	database=$(env_of DATABASE)
	echo "SET @@SESSION.SQL_LOG_BIN=0;"
	# mariadb-install-db also makes root@<hostname>, root@127.0.0.1 and root@::1 without a
	# password: only root@localhost (the socket) and root@'%' (the password) remain.
	echo "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');"
	echo "DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';"
	echo "FLUSH PRIVILEGES;"
	echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$root");"
	echo "CREATE USER 'root'@'%' IDENTIFIED BY $(sql_string "$root");"
	echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
	if [ -n "$database" ]; then
		echo "CREATE DATABASE IF NOT EXISTS \`$database\`;"
	fi
	if [ -n "$user" ]; then
		echo "CREATE USER $(sql_string "$user")@'%' IDENTIFIED BY $(sql_string "$password");"
		if [ -n "$database" ]; then
			echo "GRANT ALL ON \`$database\`.* TO $(sql_string "$user")@'%';"
		fi
	fi
	echo "FLUSH PRIVILEGES;"
}

init_datadir() {
	log "initialising a new server in $DATADIR"
	mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
		--auth-root-authentication-method=normal >/dev/null
	mariadbd --user=mysql --datadir="$DATADIR" --skip-networking --socket="$INIT_SOCKET" &
	local pid=$! waited=0
	until mariadb-admin --socket="$INIT_SOCKET" --user=root ping >/dev/null 2>&1; do
		waited=$((waited + 1))
		if [ "$waited" -gt 60 ] || ! kill -0 "$pid" 2>/dev/null; then
			log "the setup server did not start"
			exit 1
		fi
		sleep 1
	done
	setup_sql | mariadb --socket="$INIT_SOCKET" --user=root
	kill "$pid"
	wait "$pid" || true
	log "setup complete${MARIADB_DATABASE:+; database $MARIADB_DATABASE}"
}

main() {
	if [ "${1:-}" = "" ] || [ "${1:0:1}" = "-" ]; then
		set -- mariadbd "$@"
	fi
	if [ "$1" != mariadbd ] && [ "$1" != mysqld ]; then
		exec "$@"
	fi
	mkdir -p "$DATADIR" /run/mysqld
	chown mysql:mysql "$DATADIR" /run/mysqld
	if [ ! -d "$DATADIR/mysql" ]; then
		check_settings
		init_datadir
	fi
	shift
	exec mariadbd --user=mysql --datadir="$DATADIR" "$@"
}

main "$@"
