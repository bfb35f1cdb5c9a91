"""Finish a ``mooring deploy`` run on a host: promote the gated release, keep its record, unlock.

Run by ``mooring deploy`` after the health gate (and any rollback) with ``MOORING_RUN_DIR`` set,
for every host whose stack this run locked. The command's verdict says which release passed
its gate (it becomes ``current``); ``record-<host>.json`` / ``.md`` are uploaded beside the
release; the deploy lock is released last, and only if this run holds it.
"""

import json

from pyinfra import host
from pyinfra.operations import files

from mooring.deploy.operations import lock, stack
from mooring.declare.model import host_model
from mooring.deploy.plan import Op, StackPlan, Verdict, read_host_plan, run_dir, run_id

directory = run_dir()
model = host_model(host)
verdict = read_host_plan(host.name, "verdict", Verdict) or Verdict()
if model.stack is not None and directory is not None:
    if verdict.promote is not None:
        plan = read_host_plan(host.name, "stack", StackPlan)
        stack.release_promoted(name=Op.full(Op.RELEASE_PROMOTED), directory=model.stack.dir,
                               number=verdict.promote, release_id=plan.release_id,
                               keep=model.stack.releases_keep, run=run_id())
    record_json = directory / f"record-{host.name}.json"
    if record_json.exists():
        record = json.loads(record_json.read_text())
        target = f"{record['directory']}/releases/{record['release_dirname']}"
        for suffix in ("json", "md"):
            files.put(name=f"Release record ({suffix})", src=str(directory / f"record-{host.name}.{suffix}"),
                      dest=f"{target}/record.{suffix}", mode="600", create_remote_dir=False)
    rollback_json = directory / f"rollback-record-{host.name}.json"
    if rollback_json.exists():  # an on-demand rollback (mooring rollback)
        files.put(name="Rollback record", src=str(rollback_json),
                  dest=f"{model.stack.dir}/.mooring/rollbacks/{run_id()}.json", mode="600", create_remote_dir=True)
    if verdict.unlock and (verdict.promote is not None or record_json.exists() or rollback_json.exists()):
        lock.unlocked(name=Op.full(Op.UNLOCKED), directory=model.stack.dir, run=run_id())
    elif verdict.unlock:
        lock.release(model.stack.dir, run_id())
