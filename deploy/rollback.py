"""Rollback: put back the release a failed deploy replaced.

Run by ``mooring deploy`` for hosts whose new release failed, with ``MOORING_RUN_DIR`` set: the
command's verdict left there names the release to restore, the release number this run saved
(marked ``-failed`` by number) and whether any container changed. The restored release's secret
files are its masked copies filled with the secrets declared now (the release keeps none). Run by hand,
``--data mooring_rollback_to=N`` names the release to restore (and makes it current):

    pyinfra inventories/sandbox.py deploy/rollback.py --limit docker-1 --data mooring_rollback_to=3
"""

from pyinfra import host

from deploy.facts.releases import Releases
from deploy.operations import stack
from deploy.operations.compose import fail_host_op
from declare.model import host_model
from declare.render import declared_secrets, render_stack
from deploy.plan import RollbackResult, Verdict, read_host_plan, run_id, write_host_plan

model = host_model(host)
verdict = read_host_plan(host.name, "verdict", Verdict) or Verdict()
if model.stack is not None:
    wanted = host.data.get("mooring_rollback_to")
    target = verdict.roll_back_to
    if wanted is not None:
        target = int(wanted) if str(wanted).isdigit() else None
    mounts: dict[str, list[str]] = {}
    for item in render_stack(model).files:
        if item.used_by:
            mounts[item.path] = list(item.used_by)

    if wanted is not None and target is None:
        fail_host_op(name="Roll back", message=f"mooring_rollback_to={wanted!r} is not a release number")
    elif target is not None:
        stack.rolled_back(name=f"Roll back to release {target}", directory=model.stack.dir,
                          project=model.stack.name, number=target, run=run_id(), failed_number=verdict.failed,
                          containers_touched=verdict.containers_touched, mounts=mounts,
                          make_current=wanted is not None, secrets=declared_secrets(model.stack))
    elif verdict.failed is not None:
        stack.marked_failed(name="Mark the failed release", directory=model.stack.dir, number=verdict.failed)
    kept = verdict.failed is not None and host.get_fact(Releases, directory=model.stack.dir).by_number(
        verdict.failed) is not None
    write_host_plan(host.name, "rollback", RollbackResult(target=target, failed_release=verdict.failed,
                                                          failed_release_kept=kept))
