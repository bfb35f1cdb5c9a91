"""Declared-state layers the sandbox's tests and benchmarks add to the reference stack."""

from __future__ import annotations

#: A host layer adding a MariaDB (``mooring/mariadb:10.11``, role mysql) beside the stack's
#: Postgres and pointing the backups at it.
MYSQL_BACKUPS = """\
stack:
  services:
    shopdb:
      image: mooring/mariadb:10.11
      image_source: ship
      role: mysql
      env: [MARIADB_DATABASE, MARIADB_ROOT_PASSWORD]
      volumes:
        - {source: shopdata, target: /var/lib/mysql}
      healthcheck:   # over TCP: the image's setup server listens on a socket only
        test: [CMD, mariadb-admin, ping, -h, 127.0.0.1]
        interval: 2s
        timeout: 5s
        retries: 30
  env:
    MARIADB_DATABASE: shop
    MARIADB_ROOT_PASSWORD: {secret: MARIADB_ROOT_PASSWORD}
  backups:
    service: shopdb
    databases: ["${MARIADB_DATABASE}"]
"""
