"""Benchmark: ``mooring drift`` and ``mooring check`` wall time at 1, 10 and 30 hosts, beside the
floor (one ssh command per host, all in parallel, that stats and hashes every managed file and
lists the containers).

    .venv/bin/python bench/bench_drift.py [--hosts 1,10,30] [--repeat 3] [--profile]

Uses its own sandbox (state in .mooring/bench-drift, ports offset by 3000) of lite boxes (sshd
and cron only): each gets the stack's non-docker state written as a deploy would (every rendered
file and folder with its mode and owner, the snapshot key), so drift reads, digests and compares
exactly what it does on a docker host; docker-only parts answer "no engine" on a lite box. Prints
the median of each measure and the ratio to the floor, all measured in this run. ``--profile``
adds where one 30-host drift spends its time (cProfile, in-process).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import os
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("MOORING_STATE", str(ROOT / ".mooring" / "bench-drift"))
os.environ.setdefault("MOORING_SANDBOX_PORT_BASE", "3000")
sys.path.insert(0, str(ROOT))

from mooring.sandbox import boxes as sandbox  # noqa: E402

INVENTORY = str(ROOT / "inventories" / "sandbox.py")


def ssh_args(state: sandbox.SandboxState, box: sandbox.Box) -> list[str]:
    """The same connection the inventory makes: root, the sandbox key, strict host-key checking."""
    return ["ssh", "-p", str(box.ssh_port), "-i", str(state.key_path), "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={state.known_hosts_path}", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "root@127.0.0.1"]


def stack_archive(box: sandbox.Box) -> tuple[bytes, list[str]]:
    """A tar of the stack's rendered folders and files (and snapshot key) for ``box``, and the
    managed paths."""
    from mooring.checks.snapshot import KEY_FILE, snapshot_key
    from mooring.declare.model import build_model
    from mooring.declare.render import render_stack

    model = build_model(box.name, ("lite_boxes", "sandbox"))  # the inventory's groups, in its order
    rendered = render_stack(model)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in rendered.directories:
            info = tarfile.TarInfo(folder.path.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, int(folder.mode, 8)
            _owner(info, folder.owner, folder.group)
            tar.addfile(info)
        private = tarfile.TarInfo(f"{model.stack.dir}/.mooring".lstrip("/"))
        private.type, private.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(private)
        key = snapshot_key(box.name, model.stack.dir)
        items = [(f.path, f.content.encode(), f.mode, f.owner, f.group) for f in rendered.files]
        items.append((f"{model.stack.dir}/{KEY_FILE}", key, "600", "root", "root"))
        for path, content, mode, owner, group in items:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(content), int(mode, 8)
            _owner(info, owner, group)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue(), [path for path, *_ in items]


def _owner(info: tarfile.TarInfo, owner: str, group: str) -> None:
    info.uid = int(owner) if owner.isdigit() else 0
    info.gid = int(group) if group.isdigit() else 0
    info.uname, info.gname = ("" if owner.isdigit() else owner), ("" if group.isdigit() else group)


def seed(state: sandbox.SandboxState, box: sandbox.Box, archive: bytes) -> None:
    """Write the stack's non-docker state (``stack_archive``) on ``box``."""
    done = subprocess.run([*ssh_args(state, box), "tar -x --same-owner --same-permissions -C / -f -"],
                          input=archive, capture_output=True, timeout=60)
    if done.returncode:
        raise SystemExit(f"seeding {box.name} failed: {done.stderr.decode(errors='replace')}")


def floor_once(state: sandbox.SandboxState, boxes: list[sandbox.Box], paths: list[str]) -> float:
    """One ssh command per host, all at once: stat and hash every managed file, list containers."""
    quoted = " ".join(f"'{p}'" for p in paths)
    command = (f"stat -c '%n %a %U %G %s' {quoted}; sha256sum {quoted}; "
               "docker ps -a --format '{{.Names}} {{.State}} {{.Image}}' 2>/dev/null; true")
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(boxes)) as pool:
        outs = list(pool.map(lambda b: subprocess.run([*ssh_args(state, b), command], capture_output=True,
                                                      timeout=60), boxes))
    elapsed = time.perf_counter() - started
    if any(o.returncode for o in outs):
        raise SystemExit("the floor command failed: " + outs[0].stderr.decode(errors="replace"))
    return elapsed


def mooring_once(command: str, boxes: list[sandbox.Box]) -> tuple[float, int]:
    """``mooring COMMAND sandbox --limit ...`` as a user runs it: (seconds, exit code)."""
    limits = [a for b in boxes for a in ("--limit", b.name)]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mooring", command, INVENTORY, "-q", *limits], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1, 2) or "not checked" in done.stdout:
        raise SystemExit(f"mooring {command} did not read every host (exit {done.returncode}):\n"
                         + done.stdout[-3000:] + done.stderr[-3000:])
    return elapsed, done.returncode


def profile_drift(boxes: list[sandbox.Box], top: int = 25) -> str:
    """Where one in-process drift over ``boxes`` spends its time (cumulative, top functions)."""
    import cProfile
    import pstats

    from mooring.inspection import inspect_hosts

    profiler = cProfile.Profile()
    profiler.enable()
    inspect_hosts(INVENTORY, [b.name for b in boxes], "drift")
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    return text.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,10,30", help="host counts to measure (comma-separated)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also profile one drift over the most hosts")
    parser.add_argument("--keep", action="store_true", help="keep the boxes afterwards")
    args = parser.parse_args()
    counts = sorted({int(n) for n in args.hosts.split(",")})

    started = time.perf_counter()
    state = sandbox.up(docker_boxes=0, lite_boxes=max(counts))
    lite = state.group("lite")
    archives = {box.name: stack_archive(box) for box in lite}  # models are built one at a time
    managed = archives[lite[0].name][1]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda b: seed(state, b, archives[b.name][0]), lite))
    print(f"{len(lite)} lite boxes up and seeded with {len(managed)} managed paths in "
          f"{time.perf_counter() - started:.1f} s", flush=True)

    rows = []
    try:
        for count in counts:
            boxes = lite[:count]
            mooring_once("drift", boxes)  # warm: first imports, page cache
            floor = statistics.median(floor_once(state, boxes, managed) for _ in range(args.repeat))
            drift = [mooring_once("drift", boxes) for _ in range(args.repeat)]
            check = [mooring_once("check", boxes) for _ in range(args.repeat)]
            row = (count, floor, statistics.median(t for t, _ in drift), statistics.median(t for t, _ in check),
                   drift[0][1], check[0][1])
            rows.append(row)
            print(f"  {count:>2} hosts: floor {row[1]:.2f} s, drift {row[2]:.2f} s ({row[2] / row[1]:.1f}x, exit "
                  f"{row[4]}), check {row[3]:.2f} s ({row[3] / row[1]:.1f}x, exit {row[5]})", flush=True)
        print(f"\nmedian of {args.repeat}, one run, {os.cpu_count()} cores; the floor is one ssh command per host "
              "in parallel (stat + sha256 of every managed file + docker ps)")
        print("| hosts | floor | drift | drift / floor | check | check / floor |")
        print("|---|---|---|---|---|---|")
        for count, floor, drift_s, check_s, _, _ in rows:
            print(f"| {count} | {floor:.2f} s | {drift_s:.2f} s | {drift_s / floor:.1f}x | {check_s:.2f} s | "
                  f"{check_s / floor:.1f}x |")
        if args.profile:
            print("\nprofile of one drift over", len(lite[:counts[-1]]), "hosts (in-process):")
            print(profile_drift(lite[:counts[-1]]))
    finally:
        if not args.keep:
            sandbox.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
