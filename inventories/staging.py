"""pyinfra inventory of the staging hosts (example: replace the names with yours).

    pyinfra inventories/staging.py deploy/stack.py

mooring connects as ``deploy`` (passwordless sudo) and refuses unknown host keys: add each
host's key to ~/.ssh/known_hosts first (check its fingerprint out of band). Strict checking is
also mooring's default for every inventory (group_data/all.py); for a new box's first bootstrap
only, its host data may say ``mooring_first_contact: True`` with ``ssh_strict_host_key_checking:
"accept-new"`` (see docs/declared-state.md, "Inventories and host keys").
"""

_ssh = {
    "ssh_user": "deploy",
    "ssh_known_hosts_file": "~/.ssh/known_hosts",
    "ssh_strict_host_key_checking": "yes",
    "ssh_connect_retries": 2,
    "_sudo": True,
}

staging = [
    ("api-1.staging.example.com", dict(_ssh)),
    ("api-2.staging.example.com", dict(_ssh)),
]
