"""Run each host's installed backup job now (``mooring backup run``), once, as cron would.

    pyinfra inventories/sandbox.py deploy/backup_run.py --limit docker-1

Pre-flight first, as for a deploy (bad input touches no host). The job dumps every declared
database, verifies each dump (gzip stream and the dump tool's closing line) before it takes the dump's
final name, and prunes only after every dump succeeded. Under ``mooring backup run`` what each
host's job wrote is reported per database.
"""

from pyinfra import host

from mooring.checks.preflight import assert_host_ready
from mooring.deploy.roles import backups

model = assert_host_ready(host)
if model.stack is not None:
    backups.run_now(model.stack)
