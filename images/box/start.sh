#!/bin/sh
# Start a sandbox box like a small VM boots: optional docker-in-docker prep, root's key, host
# keys, the services packages enabled (cron at least), then sshd in the foreground.
#
# Environment:
#   MOORING_AUTHORIZED_KEYS  public key line(s) for root; written on first start only, so keys
#                            a deploy manages later survive a restart
#   MOORING_DIND=1           prepare the box so `apt-get install docker.io` gives a working dockerd
set -eu

prepare_dind() {
    mount -o remount,rw /sys
    # A plain remount of a cgroup bind mount fails with EBUSY; remount,bind works.
    awk '$3 ~ /^cgroup2?$/ && $2 ~ /^\/sys\/fs\/cgroup/ { print $2 }' /proc/self/mounts |
        while read -r dir; do
            mount -o remount,bind,rw "$dir"
        done
    mount --make-rshared /
    # Debian's init script runs `ulimit -n 1048576` under set -e, above the box's hard limit.
    # apt keeps this file on install (--force-confold), so dockerd starts after `apt install docker.io`.
    if ! grep -qs '^ulimit()' /etc/default/docker; then
        echo 'ulimit() { command ulimit "$@" 2>/dev/null || true; }' >>/etc/default/docker
    fi
}

seed_root_key() {
    [ -n "${MOORING_AUTHORIZED_KEYS:-}" ] || return 0
    [ -s /root/.ssh/authorized_keys ] && return 0
    install -d -m 700 /root/.ssh
    printf '%s\n' "$MOORING_AUTHORIZED_KEYS" >/root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
}

clear_stale_pid_files() {
    # A VM's /run is a fresh tmpfs at boot; a restarted container keeps its old one. Boot starts
    # processes in the same order, so a stale pid file names a live process again (often the
    # daemon itself: dockerd then refuses with "pid file found").
    find /run -xdev -type f -name '*.pid' -delete 2>/dev/null || true
}

start_enabled_services() {
    # There is no init system: start what a boot would (e.g. docker once bootstrapped), so a
    # restarted box comes back like a rebooted VM. sshd is left for the foreground below.
    for link in /etc/rc2.d/S*; do
        [ -x "$link" ] || continue
        case "$link" in */S[0-9][0-9]ssh) continue ;; esac
        timeout 60 "$link" start >/dev/null 2>&1 || echo "mooring-box-start: $link start failed" >&2
    done
}

if [ "${MOORING_DIND:-0}" = 1 ]; then
    prepare_dind
fi
seed_root_key
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
clear_stale_pid_files
start_enabled_services
pgrep -x cron >/dev/null || cron
exec /usr/sbin/sshd -D -e
