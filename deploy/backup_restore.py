"""Restore a dump into each host's live database now (``mooring backup restore --file NAME``).

    MOORING_BACKUP_FILE=NAME pyinfra inventories/sandbox.py deploy/backup_restore.py --limit docker-1

Pre-flight first (bad input touches no host). Under the stack's deploy lock (no deploy runs at
the same time): a fresh dump of every database first -- the data the restore replaces is kept,
and without that dump there is no restore --, then ``restore.sh FILE`` (the dump verified, one
transaction, ON_ERROR_STOP: a failed restore leaves the database as it was), then one line in
``<stack dir>/.mooring/restores.log``. ``mooring backup restore`` asks for confirmation first.
"""

import os

from pyinfra import host

from mooring.checks.preflight import assert_host_ready
from mooring.deploy.plan import BACKUP_FILE_ENV
from mooring.deploy.roles import backups

model = assert_host_ready(host)
if model.stack is not None:
    backups.restore_now(model.stack, os.environ.get(BACKUP_FILE_ENV, ""))
