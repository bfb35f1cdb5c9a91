"""Release record: the JSON and Markdown evidence of a deploy, kept beside the release.

Run by ``mooring deploy`` after the health gate (and any rollback) with ``MOORING_RUN_DIR`` set,
for the hosts that saved a new release; it uploads ``record-<host>.json`` / ``.md`` from there.
"""

import json

from pyinfra import host
from pyinfra.operations import files

from mooring.runplan import run_dir

directory = run_dir()
record_json = directory / f"record-{host.name}.json" if directory else None
if record_json is not None and record_json.exists():
    record = json.loads(record_json.read_text())
    target = f"{record['directory']}/releases/{record['release_dirname']}"
    for suffix in ("json", "md"):
        files.put(name=f"Release record ({suffix})", src=str(directory / f"record-{host.name}.{suffix}"),
                  dest=f"{target}/record.{suffix}", mode="600", create_remote_dir=False)
