"""``mooring sandbox up|down|status``: the local boxes every test and the demo run against."""

from __future__ import annotations

import argparse

NAME = "sandbox"
#: Shown under ``examples:`` in ``--help`` (each one is parsed by tests/test_cli.py).
EXAMPLES = (
    'mooring sandbox up --docker-boxes 2        # local boxes reached over 127.0.0.1',
    'mooring sandbox status',
    'mooring sandbox down                       # exactly what `up` created',
)
HELP = "start, inspect or remove the local sandbox of real SSH boxes (127.0.0.1 only)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sandbox`` command's arguments."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="build images if needed and start the boxes (idempotent)")
    up.add_argument("--docker-boxes", type=int, default=2, metavar="N", help="boxes that can run dockerd (default 2)")
    up.add_argument("--lite-boxes", type=int, default=0, metavar="M", help="sshd + cron only boxes (default 0)")
    actions.add_parser("down", help="remove exactly the containers and volumes this sandbox created")
    actions.add_parser("status", help="show boxes, ports and whether their sshd answers")


def run(args: argparse.Namespace) -> int:
    """Run ``mooring sandbox``; returns the exit code."""
    from mooring.sandbox import boxes as sandbox

    if args.action == "up":
        state = sandbox.up(docker_boxes=args.docker_boxes, lite_boxes=args.lite_boxes)
        print(sandbox.format_status(sandbox.status()))
        print(f"inventory: inventories/sandbox.py ({len(state.boxes)} boxes)")
        return 0
    if args.action == "down":
        removed = sandbox.down()
        print(f"removed {len(removed)} containers/volumes" + (": " + ", ".join(removed) if removed else ""))
        return 0
    boxes = sandbox.status()
    print(sandbox.format_status(boxes) if boxes else "no sandbox: run `mooring sandbox up`")
    return 0
