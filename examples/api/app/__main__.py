"""Command line of the example API.

    python3 -m app serve                      # HTTP on $HOST:$PORT (default 0.0.0.0:8000)
    python3 -m app migrate [--wait S] [--json] # apply pending migrations (idempotent)
    python3 -m app migrate --status            # list pending migrations, change nothing
    python3 -m app migrate --down              # undo the newest applied migration
    python3 -m app healthcheck [--live]        # exit 0 when /api/v1/health/ready answers 200

Exit codes: 0 success, 1 failure (database, network), 2 bad settings or usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Sequence

from app import backends, config, migrations
from app.errors import SettingsError

log = logging.getLogger("api")


class SecretFilter(logging.Filter):
    """Masks known secret values in every log record (defence in depth)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = message
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def setup_logging(secrets: Sequence[str] = ()) -> None:
    """One line per record on stderr, secrets masked; LOG_LEVEL sets the level (default INFO)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())


def serve(settings: config.Settings) -> int:
    """Run the HTTP server until SIGTERM or SIGINT."""
    from app.server import Api, Server

    server = Server((settings.host, settings.port), Api(settings))

    def stop(signum: int, frame: Any) -> None:
        log.info("signal %d: shutting down", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("mooring example API %s listening on %s:%d (database %s, redis %s%s)", settings.version,
             settings.host, settings.port, config.redact_url(settings.database_url),
             config.redact_url(settings.redis_url), ", BROKEN: readiness fails" if settings.broken else "")
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
    log.info("stopped")
    return 0


def connect_with_retry(settings: config.Settings, wait: float) -> Any:
    """A transactional connection, retrying for ``wait`` seconds while the database starts."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return backends.connect_db(settings, autocommit=False)
        except Exception:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1)


def migrate(settings: config.Settings, *, wait: float, status_only: bool, as_json: bool, down: bool = False) -> int:
    """Apply (or with ``status_only`` just list, with ``down`` undo the newest) migrations; print what happened."""
    try:
        conn = connect_with_retry(settings, wait)
        try:
            outcome = (migrations.status(conn) if status_only else migrations.downgrade(conn) if down
                       else migrations.apply(conn))
        finally:
            conn.close()
    except Exception as exc:
        print(f"migrate failed: {backends.describe(exc, settings.secrets())}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(outcome.as_dict()))
    elif status_only:
        print(f"migrate: {len(outcome.pending)} pending" + "".join(f"\n  pending {v}" for v in outcome.pending)
              + f"\nmigrate: schema at {outcome.current or 'nothing'}")
    elif down:
        print(f"migrate: undid {outcome.applied[0]}; schema at {outcome.current or 'nothing'}" if outcome.applied
              else "migrate: nothing to undo")
    else:
        for version in outcome.applied:
            print(f"migrate: applied {version}")
        if not outcome.applied:
            print(f"migrate: nothing to apply; schema at {outcome.current}")
        else:
            print(f"migrate: {len(outcome.applied)} applied; schema at {outcome.current}")
    return 0


def healthcheck(live: bool) -> int:
    """Ask the local server; for Docker's HEALTHCHECK (reads only PORT)."""
    path = "/api/v1/health/live" if live else "/api/v1/health/ready"
    url = f"http://127.0.0.1:{os.environ.get('PORT') or 8000}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {path}: {exc}", file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    """The argument parser."""
    root = argparse.ArgumentParser(prog="python3 -m app", description="mooring's example API")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve HTTP on $HOST:$PORT")
    mig = commands.add_parser("migrate", help="apply pending database migrations")
    mig.add_argument("--status", action="store_true", help="only list pending migrations")
    mig.add_argument("--down", action="store_true", help="undo the newest applied migration (a rollback's down-migration)")
    mig.add_argument("--json", action="store_true", help="print the outcome as JSON")
    mig.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                     help="keep retrying the database connection this long (default 0)")
    check = commands.add_parser("healthcheck", help="exit 0 when the local server is ready")
    check.add_argument("--live", action="store_true", help="ask /health/live instead of /health/ready")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = parser().parse_args(argv)
    if args.command == "healthcheck":
        return healthcheck(args.live)
    try:
        settings = config.load()
    except SettingsError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.secrets())
    if args.command == "migrate":
        return migrate(settings, wait=args.wait, status_only=args.status, as_json=args.json, down=args.down)
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
