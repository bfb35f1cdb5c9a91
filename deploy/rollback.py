"""Rollback: put back the release a failed deploy replaced.

Run by ``mooring deploy`` for hosts whose new release failed, with ``MOORING_RUN_DIR`` set: the
stack plan left there says which release was current before and which one this deploy made.
Run by hand, ``--data mooring_rollback_to=N`` names the release to restore:

    pyinfra inventories/sandbox.py deploy/rollback.py --limit docker-1 --data mooring_rollback_to=3
"""

from pyinfra import host

from deploy.facts.releases import Releases
from deploy.operations import stack
from deploy.operations.compose import fail_host_op
from mooring.model import host_model
from mooring.runplan import read_host_plan, write_host_plan

model = host_model(host)
plan = read_host_plan(host.name, "stack") or {}
if model.stack is not None:
    history = host.get_fact(Releases, directory=model.stack.dir)
    saved = any(r.release_id == plan.get("release_id") for r in history.releases)
    failed_release = plan.get("release_id") if saved else None
    wanted = host.data.get("mooring_rollback_to")
    if wanted is not None:
        target = int(wanted) if str(wanted).isdigit() else None
    elif not saved:
        # The deploy failed before it saved its release: re-apply the release still current.
        current = history.current_release()
        target = current.number if current else None
    else:
        target = (plan.get("previous") or {}).get("number")

    if wanted is not None and target is None:
        fail_host_op(f"mooring_rollback_to={wanted!r} is not a release number")
    elif target is not None:
        stack.rolled_back(name=f"Roll back to release {target}", directory=model.stack.dir,
                          project=model.stack.name, number=target, failed_release=failed_release)
    elif failed_release:
        stack.marked_failed(name="Mark the failed release", directory=model.stack.dir, release_id=failed_release)
    write_host_plan(host.name, "rollback", {"target": target, "failed_release": failed_release})
