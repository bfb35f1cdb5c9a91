"""A stack taken from a team's compose files (declare/model.py ``_compose_mount``,
``_compose_port``, ``_check_variables``), host-free, with the real Compose: the mounts and
published ports a service gets, with the owner/group/mode ``stack.compose.mounts`` declares, and
the refusal of a variable the files need but ``stack.env`` leaves out or empty, each naming the
layer to fix, the key, the message and the fix. Also: one host's refused declaration does not
stop the pre-flight of the others (checks/preflight.py ``check_hosts``). Written for the
mutation run (docs/mutation.md); the compose-file behaviour itself is tests/test_compose_files.py's."""

from __future__ import annotations

from pathlib import Path

from mooring.checks.findings import Outcome
from mooring.checks.preflight import InventoryHost, check_hosts
from mooring.declare.model import Mount, PortMapping
from tests.declared_world import World, model_for
from tests.test_mutants_model_compose import SHOP_FILES, all_yml, refusal, shop, use_files  # noqa: F401 (fixture)

FILES = ", ".join(SHOP_FILES)


def tools_service(world: World, project: Path, service: dict[str, object]) -> None:
    """The shop's files plus ``tools.yml``, which adds the service ``tools`` written as ``service``."""
    use_files(world, project, {"tools.yml": {"services": {"tools": {"image": "mooring/tools:1", **service}}}})


def bind(source: str, target: str, index: int, kind: str = "dir", read_only: bool = False,
         owner: str | None = None, group: str | None = None, mode: str | None = None) -> Mount:
    """The mount ``services.tools.volumes.<index>`` of a bind whose host source is ``source``."""
    return Mount(type="bind", source=source, target=target, read_only=read_only, owner=owner, group=group, mode=mode,
                 kind=kind, template=None, path=f"services.tools.volumes.{index}")


# --- mounts ------------------------------------------------------------------------------------

def test_mounts_get_the_declared_owner_group_and_mode_of_their_own_source_only(world: World, shop: Path) -> None:
    """Each bind of a project path gets the owner/mode declared for exactly that path (a group
    defaults to the owner, a 3-digit mode is written with 4), is a file or a folder as it is in the
    repo and lives in the stack folder; ``./confX`` and ``./conf `` are other folders than the
    declared ``./conf``. A volume (anonymous too) or a host path has no owner, group nor mode."""
    (shop / "conf").mkdir()
    (shop / "conf" / "app.ini").write_text("[app]\n")
    for folder in ("data", "confX", "conf "):
        (shop / folder).mkdir()
    tools_service(world, shop, {"volumes": [
        "/cache", "./conf/app.ini:/etc/app.ini:ro", "./data:/data", "./conf:/etc/conf", "./confX:/etc/x",
        {"type": "bind", "source": "./conf ", "target": "/etc/y"}, "/etc/hosts:/etc/hosts:ro",
        {"type": "tmpfs", "target": "/tmp"}]})
    data = world.read("all.yml")
    data["stack"]["compose"]["mounts"].update({
        "./conf/app.ini": {"owner": "app", "mode": "640"},
        "./data": {"owner": "app", "group": "www", "mode": "0750"},
        "./conf": {"owner": "root", "group": "root", "mode": "755"}})
    world.write("all.yml", data)
    stack = model_for("staging").stack
    home = stack.dir
    assert stack.services["tools"].volumes == [
        Mount(type="volume", source="", target="/cache", read_only=False, owner=None, group=None, mode=None,
              kind="dir", template=None, path="services.tools.volumes.0"),
        bind(f"{home}/conf/app.ini", "/etc/app.ini", 1, kind="file", read_only=True, owner="app", group="app",
             mode="0640"),
        bind(f"{home}/data", "/data", 2, owner="app", group="www", mode="0750"),
        bind(f"{home}/conf", "/etc/conf", 3, owner="root", group="root", mode="0755"),
        bind(f"{home}/confX", "/etc/x", 4),
        bind(f"{home}/conf ", "/etc/y", 5),
        bind("/etc/hosts", "/etc/hosts", 6, read_only=True),
    ]


def test_a_declared_folder_written_with_a_trailing_slash_is_the_same_folder(world: World, shop: Path) -> None:
    """``./data/`` (the schema accepts it) declares the owner and mode of ``./data``: it was once
    matched against Compose's normalised source only, silently ignored, and the read-only rule then
    said the mount declared no owner."""
    (shop / "data").mkdir()
    tools_service(world, shop, {"volumes": ["./data:/data:ro"]})
    data = world.read("all.yml")
    data["stack"]["compose"]["mounts"]["./data/"] = {"owner": "app", "group": "www", "mode": "0750"}
    world.write("all.yml", data)
    stack = model_for("staging").stack
    assert stack.services["tools"].volumes == [bind(f"{stack.dir}/data", "/data", 0, read_only=True, owner="app",
                                                   group="www", mode="0750")]


# --- ports -------------------------------------------------------------------------------------

def test_published_ports_keep_their_address_and_protocol(world: World, shop: Path) -> None:
    """A port published on one address over UDP keeps both; one written without either is
    every address over TCP; an unpublished one is no published port."""
    tools_service(world, shop, {"ports": ["127.0.0.1:9000:90/udp", "9001:91", "92"]})
    assert model_for("staging").stack.services["tools"].ports == [
        PortMapping("127.0.0.1", 9000, 90, "udp"), PortMapping("", 9001, 91, "tcp")]


def test_a_published_port_range_is_each_of_its_ports(world: World, shop: Path) -> None:
    """Compose expands ``9002-9003:92-93`` into single ports: the port rules see each one."""
    tools_service(world, shop, {"ports": ["9002-9003:92-93"]})
    assert model_for("staging").stack.services["tools"].ports == [
        PortMapping("", 9002, 92, "tcp"), PortMapping("", 9003, 93, "tcp")]


# --- variables the files need ------------------------------------------------------------------

def test_a_variable_missing_from_stack_env_is_refused_in_the_layer_declaring_stack_env(world: World,
                                                                                        shop: Path) -> None:
    """TZ (``${TZ}`` in the files) is not declared: refused in all.yml, where stack.env is
    declared (not in the last layer read), with both fixes."""
    use_files(world, shop, {})
    data = world.read("all.yml")
    del data["stack"]["env"]["TZ"]
    world.write("all.yml", data)
    assert refusal() == [(all_yml(world), "stack.env.TZ",
                          f"{FILES} use ${{TZ}} without a default, but stack.env does not declare it",
                          "declare TZ in stack.env (or give it a default in the compose file: ${TZ:-...})")]


def test_an_empty_variable_is_refused_with_the_fix_its_form_allows(world: World, shop: Path) -> None:
    """An empty plain ``${TZ}`` may be declared allow_empty (the fix says how); an empty
    ``${JWT_SECRET:?...}`` may not (the message shows the form, the fix only asks a value). Both
    are refused in all.yml, the layer that declares them."""
    use_files(world, shop, {})
    data = world.read("all.yml")
    data["stack"]["env"]["TZ"] = ""
    world.write("all.yml", data)
    world.set_secret("staging", "JWT_SECRET", "")
    assert sorted(refusal()) == [
        (all_yml(world), "stack.env.JWT_SECRET", f"JWT_SECRET is empty, but {FILES} need it (${{JWT_SECRET:?...}})",
         "give JWT_SECRET a value"),
        (all_yml(world), "stack.env.TZ", f"TZ is empty, but {FILES} need it",
         'give TZ a value, or declare `TZ: {value: "", allow_empty: true}`'),
    ]


# --- pre-flight of many hosts --------------------------------------------------------------------

def test_a_host_with_a_refused_declaration_does_not_stop_the_others_checks(world: World) -> None:
    """The staging host's own layer does not pass the schema (its model is refused); the sandbox
    host after it is still checked, exactly as when it is checked alone."""
    world.write("hosts/staging-1.example.invalid.yml", {"stack": {"releases_keep": "many"}})
    staging, sandbox = InventoryHost("staging-1.example.invalid", ("staging",)), InventoryHost("docker-1", ("sandbox",))
    refused = check_hosts([staging])
    assert [(f.subject, f.path, f.outcome) for f in refused] == [(staging.name, "stack.releases_keep", Outcome.FAILED)]
    assert sorted(map(str, check_hosts([staging, sandbox]))) == sorted(map(str, refused + check_hosts([sandbox])))
