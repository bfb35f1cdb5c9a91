"""Rollback: restore the newest kept release before the current one (or ``mooring_rollback_to``).

    pyinfra inventories/sandbox.py deploy/rollback.py --limit docker-1
"""

from pyinfra import host

from deploy.facts.releases import Releases
from deploy.operations import stack
from mooring.model import host_model
from mooring.runplan import write_host_plan

model = host_model(host)
if model.stack is not None:
    history = host.get_fact(Releases, directory=model.stack.dir)
    wanted = host.data.get("mooring_rollback_to")
    target = history.by_number(int(wanted)) if wanted else history.previous_good()
    if target is None:
        write_host_plan(host.name, "rollback", {"target": None})  # nothing kept to go back to
    else:
        stack.rolled_back(name=f"Roll back to release {target.number}", directory=model.stack.dir,
                          project=model.stack.name, number=target.number)
        write_host_plan(host.name, "rollback", {"target": target.number, "release_id": target.release_id})
