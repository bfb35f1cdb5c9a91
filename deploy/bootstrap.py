"""Bootstrap: a bare Debian box becomes a ready docker host. Idempotent: run it twice.

    pyinfra inventories/sandbox.py deploy/bootstrap.py
"""

from pyinfra import host

from mooring.deploy.roles import docker_host
from mooring.declare.model import host_model

# A new box's first contact (mooring_first_contact: True with accept-new) is allowed here only.
boot = host_model(host, first_contact_ok=True).bootstrap

# Compose v1 first: with policy "refuse" the host fails before anything is changed.
docker_host.no_compose_v1(boot)
docker_host.base_system(boot)
docker_host.docker_engine(boot)
docker_host.compose_v2()
keys = docker_host.deploy_user(boot)
# After the sshd reload a fresh login with this inventory's settings must work, or the previous
# drop-in and keys come back (see ssh_hardening).
docker_host.ssh_hardening(keys=keys, deploy_user=boot.deploy_user)
