"""Bootstrap: a bare Debian box becomes a ready docker host. Idempotent: run it twice.

    pyinfra inventories/sandbox.py deploy/bootstrap.py
"""

from pyinfra import host

from deploy.roles import docker_host
from mooring.model import host_model

boot = host_model(host).bootstrap

# Compose v1 first: with policy "refuse" the host fails before anything is changed.
docker_host.no_compose_v1(boot)
docker_host.base_system(boot)
docker_host.docker_engine(boot)
docker_host.compose_v2()
docker_host.deploy_user(boot)
docker_host.ssh_hardening()
