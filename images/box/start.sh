#!/bin/sh
# Start a sandbox box: optional docker-in-docker prep, root's key, host keys, cron, sshd.
#
# Environment:
#   MOORING_AUTHORIZED_KEYS  public key line(s) for root; written on first start only, so a
#                            key a deploy adds later survives a restart
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
    # Debian's init script runs `ulimit -n 1048576` under set -e; the box's hard limit is lower.
    # apt keeps this file on install (--force-confold), so dockerd starts after `apt install docker.io`.
    if ! grep -qs '^ulimit()' /etc/default/docker; then
        echo 'ulimit() { command ulimit "$@" 2>/dev/null || true; }' >>/etc/default/docker
    fi
}

if [ "${MOORING_DIND:-0}" = 1 ]; then
    prepare_dind
fi

if [ -n "${MOORING_AUTHORIZED_KEYS:-}" ] && [ ! -s /root/.ssh/authorized_keys ]; then
    install -d -m 700 /root/.ssh
    printf '%s\n' "$MOORING_AUTHORIZED_KEYS" >/root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
fi

ssh-keygen -A >/dev/null
mkdir -p /run/sshd
cron
exec /usr/sbin/sshd -D -e
