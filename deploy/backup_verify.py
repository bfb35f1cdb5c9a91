"""The restore drill on each host now (``mooring backup verify``): the newest dump of each
declared database, or the one named by ``MOORING_BACKUP_FILE``, restored into a throwaway
database server started for the drill -- never into the live one.

    pyinfra inventories/sandbox.py deploy/backup_verify.py --limit docker-1

Pre-flight first, as for a deploy (bad input touches no host). The drill (templates/drill.sh.j2)
checks each dump (gzip stream, the dump tool's closing line, the stack and database it names), restores
it, counts every table's rows and compares them with the dump's, then removes its server.
"""

import os

from pyinfra import host

from mooring.checks.preflight import assert_host_ready
from mooring.deploy.plan import BACKUP_FILE_ENV
from mooring.deploy.roles import backups

model = assert_host_ready(host)
if model.stack is not None:
    backups.verify_now(model.stack, os.environ.get(BACKUP_FILE_ENV, ""))
