"""pyinfra inventory of the production hosts (example: replace the names with yours).

    pyinfra inventories/production.py deploy/stack.py

Two stages. A new box (bare Debian, reachable as the image's first user):

    mooring bootstrap production --user root --fingerprint HOST=SHA256:...

reads the box's host key, records it in ``ssh_known_hosts_file`` only if its fingerprint is the
one you checked out of band (your provider's console; on a terminal mooring asks instead), logs
in as ``root`` (or ``admin``, ``debian``: the image's user) for that run and creates ``deploy``.
Every later run (``mooring deploy production``, a plain ``pyinfra``) logs in as ``deploy``
(passwordless sudo) with strict host-key checking, mooring's default for every inventory
(group_data/all.py; see docs/declared-state.md, "Inventories and host keys").
"""

_ssh = {
    "ssh_user": "deploy",
    "ssh_known_hosts_file": "~/.ssh/known_hosts",
    "ssh_strict_host_key_checking": "yes",
    "ssh_connect_retries": 2,
    "_sudo": True,
}

production = [
    ("api-1.production.example.com", dict(_ssh)),
    ("api-2.production.example.com", dict(_ssh)),
]
