"""Break a stack's deploy lock, whoever holds it (``mooring unlock``): for a run that is gone.

    pyinfra inventories/sandbox.py deploy/unlock.py --limit docker-1

The holder's owner record is printed (and left for ``mooring unlock`` in its run directory)
before the lock is removed. A lock held by a run on this controller whose processes are all
gone is broken by the next deploy on its own; this is for the other cases.
"""

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand

from mooring.deploy.operations import lock
from mooring.declare.model import host_model
from mooring.deploy.plan import run_dir

model = host_model(host)
if model.stack is not None:
    ok, output = host.run_shell_command(StringCommand("sh", "-c", QuoteString(lock.break_script(model.stack.dir))))
    lines = [line.line for line in output if line.buffer_name == "stdout"]
    text = "\n".join(lines[1:]) if lines[:1] == ["held"] else ""
    held = "held" in lines[:1]
    directory = run_dir()
    if directory is not None:
        (directory / f"unlock-{host.name}.txt").write_text(("held\n" + text) if held else "free\n")
