#!/bin/bash
# Entrypoint of mooring/redis:7.
#   redis-server [ARGS...]  (the default) runs redis in the foreground as the redis user with
#                           bind 0.0.0.0, protected-mode no, dir /data, logs on stdout, and
#                           requirepass from REDIS_PASSWORD (or the file named by
#                           REDIS_PASSWORD_FILE) when set; extra ARGS override those settings.
#   anything else           is executed as is (e.g. redis-cli).
# The password goes into a config file readable by redis only, never onto a command line.
set -Eeuo pipefail

CONFIG=/run/redis/redis.conf
if [ ! -w "$(dirname "$CONFIG")" ] && [ "$(id -u)" != 0 ]; then
	CONFIG="$(mktemp -d)/redis.conf"   # running as another user: a private temporary file
fi

log() { echo "redis-entrypoint: $*" >&2; }

password() {
	if [ -n "${REDIS_PASSWORD:-}" ]; then
		printf '%s' "$REDIS_PASSWORD"
	elif [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
		cat "$REDIS_PASSWORD_FILE"
	fi
}

# quote VALUE: a redis config string in double quotes, with \ and " escaped.
quote() {
	local value="${1//\\/\\\\}"
	printf '"%s"' "${value//\"/\\\"}"
}

write_config() {
	local pw
	pw="$(password)"
	mkdir -p "$(dirname "$CONFIG")"
	(
		umask 077
		{
			echo "bind 0.0.0.0"
			echo "protected-mode no"
			echo "port 6379"
			echo "daemonize no"
			echo "dir /data"
			echo 'logfile ""'
			if [ -n "$pw" ]; then
				echo "requirepass $(quote "$pw")"
			fi
		} >"$CONFIG"
	)
	if [ -n "$pw" ]; then
		log "password authentication on (requirepass from REDIS_PASSWORD)"
	else
		log "no REDIS_PASSWORD: redis accepts clients without a password"
	fi
}

main() {
	if [ "${1:-}" = "" ] || [ "${1:0:1}" = "-" ]; then
		set -- redis-server "$@"
	fi
	if [ "$1" != redis-server ]; then
		exec "$@"
	fi
	shift
	write_config
	unset REDIS_PASSWORD REDIS_PASSWORD_FILE
	if [ "$(id -u)" = 0 ]; then
		chown redis:redis "$CONFIG"
		if [ "$(stat -c %U /data)" != redis ]; then
			chown redis:redis /data || log "cannot chown /data (read-only?): redis may not persist"
		fi
		exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$CONFIG" "$@"
	fi
	exec redis-server "$CONFIG" "$@"
}

main "$@"
