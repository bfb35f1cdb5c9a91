"""Facts about a compose stack on a host: what compose wants, what runs, which images it has."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from mooring.declare.compose import CLEAN_ENV_PREFIX

# Tab-separated so that an empty label keeps its column. `index .State "Health"`, not
# .State.Health: containers without a healthcheck have no such key (a template error).
CONTAINER_FORMAT = "\t".join([
    '{{index .Config.Labels "com.docker.compose.service"}}', "{{.Id}}",
    '{{index .Config.Labels "com.docker.compose.config-hash"}}', "{{.State.Status}}", "{{.Image}}",
    "{{.State.StartedAt}}", '{{with index .State "Health"}}{{.Status}}{{else}}none{{end}}',
    "{{.State.ExitCode}}",
])


def compose_cmd(directory: str, project: str) -> str:
    """The ``docker compose`` prefix for a stack directory (its compose.yml and .env), run with
    a clean environment (:data:`mooring.declare.compose.CLEAN_ENV_PREFIX`)."""
    d = shlex.quote(directory)
    return (f"{CLEAN_ENV_PREFIX} docker compose --project-name {shlex.quote(project)} --project-directory {d} "
            f"-f {d}/compose.yml --env-file {d}/.env")


@dataclass(frozen=True)
class Container:
    """One container of the project."""

    service: str
    id: str
    config_hash: str
    status: str
    image_id: str
    started_at: str
    health: str
    exit_code: str = "0"


@dataclass(frozen=True)
class ProjectState:
    """Desired config hashes (from the compose file on the host), containers, and image IDs."""

    desired: dict[str, str] = field(default_factory=dict)
    containers: dict[str, Container] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)

    def out_of_date(self, service_images: dict[str, str], restarts: dict[str, str] | None = None) -> list[str]:
        """Services whose container is missing, stopped, differently configured or on another image.

        ``service_images`` maps service names to image refs (from the model: the compose
        config itself is not read back, as it holds the resolved secrets); ``restarts`` maps
        services to their restart policy, so that a finished ``restart: "no"`` job is up to date.
        """
        restarts = restarts or {}
        stale = []
        for service, want in sorted(self.desired.items()):
            have = self.containers.get(service)
            image = self.images.get(service_images.get(service, ""))
            finished = have is not None and have.status == "exited" and have.exit_code == "0" and (
                restarts.get(service) == "no")  # a one-shot job that ran to completion
            if have is None or (have.status != "running" and not finished) or have.config_hash != want or (
                    image and have.image_id != image):
                stale.append(service)
        return stale

    def orphans(self) -> list[str]:
        """Containers of the project whose service is no longer declared."""
        return sorted(set(self.containers) - set(self.desired))


class ComposeProject(FactBase[ProjectState]):
    """
    Returns a ``ProjectState`` for the stack in ``directory``: compose's own config hash per
    service, the project's containers (labels, state, image ID, health) and the image IDs
    of the images the compose file names. One remote command; empty when nothing is there.

    .. code:: python

        host.get_fact(ComposeProject, directory="/srv/mooring/solacore", project="solacore")
    """

    def command(self, directory: str, project: str) -> str:
        compose = compose_cmd(directory, project)
        label = shlex.quote(f"label=com.docker.compose.project={project}")
        not_oneoff = shlex.quote("label=com.docker.compose.oneoff=False")  # not `compose run` leftovers
        return (
            f"if [ -f {shlex.quote(directory)}/compose.yml ]; then "
            f"{compose} config --hash '*' 2>/dev/null | sed 's/^/desired /'; "
            f"for ref in $({compose} config --images 2>/dev/null); do "
            "echo image $ref $(docker image inspect --format '{{.Id}}' $ref 2>/dev/null); done; fi; "
            f"ids=$(docker ps -aq --filter {label} --filter {not_oneoff} 2>/dev/null); "
            f"if [ -n \"$ids\" ]; then docker inspect --format {shlex.quote(CONTAINER_FORMAT)} $ids | sed 's/^/container /'; fi; true"
        )

    @staticmethod
    def default() -> ProjectState:
        return ProjectState()

    def process(self, output: list[str]) -> ProjectState:
        state = ProjectState()
        for line in output:
            kind, _, rest = line.partition(" ")
            parts = rest.split()
            if kind == "desired" and len(parts) == 2:
                state.desired[parts[0]] = parts[1]
            elif kind == "image" and len(parts) == 2:
                state.images[parts[0]] = parts[1]
            elif kind == "container":
                fields = rest.split("\t")
                if len(fields) == 8 and fields[0]:
                    container = Container(*fields)
                    state.containers[container.service] = container
        return state


class ImageIds(FactBase[dict]):
    """
    Returns ``{ref: image ID or None}`` for the given image references. One remote command.

    .. code:: python

        host.get_fact(ImageIds, refs=("mooring/api:1.0.0",))
    """

    def command(self, refs: tuple[str, ...]) -> str:
        quoted = " ".join(shlex.quote(ref) for ref in refs)
        return (f"for ref in {quoted}; do echo \"$ref $(docker image inspect --format '{{{{.Id}}}}' \"$ref\" "
                "2>/dev/null)\"; done")

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output: list[str]) -> dict:
        ids = {}
        for line in output:
            ref, _, image_id = line.partition(" ")
            ids[ref] = image_id.strip() or None
        return ids



class ComposeLogs(FactBase[list]):
    """
    Returns the last log lines of one service of the stack in ``directory`` (``docker compose
    logs --timestamps``, oldest first), from ``since`` (a Docker duration such as ``1h`` or an
    RFC 3339 time) and at most ``tail`` lines. One remote command; [] when the stack is absent.

    .. code:: python

        host.get_fact(ComposeLogs, directory="/srv/mooring/solacore", project="solacore", service="api",
                      since="10m", tail=200)
    """

    def command(self, directory: str, project: str, service: str, since: str = "", tail: int = 200) -> str:
        since_arg = f" --since {shlex.quote(since)}" if since else ""
        return (f"if [ -f {shlex.quote(directory)}/compose.yml ]; then {compose_cmd(directory, project)} logs "
                f"--no-color --no-log-prefix --timestamps --tail {int(tail)}{since_arg} {shlex.quote(service)} 2>&1; "
                "fi; true")

    @staticmethod
    def default() -> list:
        return []

    def process(self, output: list[str]) -> list:
        return list(output)
