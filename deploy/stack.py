"""Stack deploy: the declared compose backend on every docker host, or nothing if pre-flight fails.

    pyinfra inventories/sandbox.py deploy/stack.py

Pre-flight runs first for each host (schema, secrets, static rules, rendering): any failure
stops the run before the first operation, naming file, key and fix.
"""

from pyinfra import host

from deploy.roles import stack
from mooring.preflight import assert_host_ready
from mooring.runplan import write_host_plan

model = assert_host_ready(host)
if model.stack is not None:
    plan = stack.converge(model)
    http_base = host.data.get("mooring_http_base") or (
        f"http://{host.data.get('ssh_hostname') or host.name}:{model.stack.http_port or 80}")
    plan["http_base"] = http_base
    for kind in ("health", "smoke"):
        plan[kind] = [
            {"name": p.name, "path": p.path, "expected_status": p.expected_status, "timeout": p.timeout,
             "retries": p.retries, "interval": p.interval}
            for p in getattr(model.stack, kind)
        ]
    write_host_plan(host.name, "stack", plan)
