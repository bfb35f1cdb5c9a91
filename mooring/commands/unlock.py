"""``mooring unlock INVENTORY``: break a stack's deploy lock left by a run that is gone."""

from __future__ import annotations

import argparse

from mooring.commands import add_target_arguments

NAME = "unlock"
#: Shown under ``examples:`` in ``--help`` (each one is parsed by tests/test_cli.py).
EXAMPLES = (
    'mooring unlock staging --limit api-1.staging.example.com',
)
HELP = ("break the deploy lock of each host's stack (prints who held it); only for a run that is "
        "gone: a kill -9 on this controller is seen and broken by the next deploy on its own")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``unlock`` command's arguments."""
    add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``mooring unlock``; returns the exit code (1 when a host could not be reached)."""
    from mooring.deployer import new_run_dir
    from mooring.runner import deploy_path, inventory_path, run_deploy
    from mooring.deploy.plan import RUN_DIR_ENV

    run_dir = new_run_dir()
    result = run_deploy(inventory_path(args.inventory), deploy_path("unlock"), limit=args.limit,
                        env={RUN_DIR_ENV: str(run_dir)})
    answered = {path.stem[len("unlock-"):]: path for path in run_dir.glob("unlock-*.txt")}
    hosts = sorted(set(result.hosts) | set(answered))
    for host in hosts:
        found = answered.get(host)
        if host in result.failed_hosts or found is None:
            print(f"{host}: could not unlock: {(result.errors_for(host) or ['unreachable'])[0]}")
            continue
        lines = found.read_text().splitlines()
        print(f"{host}: lock broken (was held by {_holder(lines[1:])})" if lines[0] == "held"
              else f"{host}: not locked")
    if not hosts:
        print(f"no host answered: {result.log_tail()}")
    return 1 if result.failed_hosts or not hosts or len(answered) < len(hosts) else 0


def _holder(lines: list[str]) -> str:
    """The lock's owner record, described in one line."""
    import json

    from mooring.deploy.plan import describe_holder

    try:
        owner = json.loads("\n".join(lines))
    except json.JSONDecodeError:
        owner = {}
    return describe_holder(owner if isinstance(owner, dict) else {})
