"""Stack deploy: the declared compose backend on every docker host, or nothing if pre-flight fails.

    pyinfra inventories/sandbox.py deploy/stack.py

Pre-flight runs first for each host (schema, secrets, static rules, rendering): any failure
stops the run before the first operation, naming file, key and fix. Each host's stack is
locked for the run. Under ``mooring deploy`` the command gates, promotes or rolls back and
unlocks afterwards; a plain pyinfra run gates, promotes and unlocks itself (no rollback).
"""

from pyinfra import host

from mooring.deploy.roles import stack
from mooring.checks.preflight import assert_host_ready
from mooring.deploy.plan import write_host_plan

model = assert_host_ready(host)
if model.stack is not None:
    plan = stack.converge(model)
    if plan is not None:
        write_host_plan(host.name, "stack", plan)
