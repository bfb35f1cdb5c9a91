"""Services without an image, the file a refusal names, and inventories read under any locale,
host-free with the real Compose (declare/model.py ``_compose_project``, ``_built``,
``_written_services``, ``_compose_tag``; checks/preflight.py ``_group_hosts``, ``_exec_inventory``,
``_prepare``). Written for the mutation run (docs/mutation.md).

- a ``build:`` service without ``image:`` and a ``provider:`` service are refused, naming the
  compose file the team fixes, also in a UTF-16 file (as Windows PowerShell's ``>`` writes it,
  which Compose reads), for a service named ``on`` (a boolean to YAML 1.1, a name to Compose) and
  in a file's second YAML document;
- ``stack.compose.services`` naming no service of the files is refused (profiles shown); a
  Compose error quoting an interpolated value masks secrets, and only secrets;
- a rule finding on a compose service names the file that writes it; ``include:`` in every form;
- a compose file tagging a scalar with Compose's ``!override``/``!reset`` is still read for where
  its services are written;
- a group tuple pyinfra would misread (``(name, {data})`` at group level, or ``([hosts], not a
  dict)``) is refused naming the inventory and the fix;
- ``validate --no-secrets`` names each stand-in secret once, and its findings, like a render
  failure's, are about the host checked;
- an inventory is read as UTF-8 in a process whose locale is not UTF-8 (in-process, so the
  mutation run sees it; tests/test_mutants_inventory_keys.py checks the same in a child Python).
"""

from __future__ import annotations

import contextlib
import json
import locale
import sys
from pathlib import Path
from typing import Iterator

import pytest

from mooring.checks import preflight
from mooring.checks.findings import Outcome
from mooring.checks.preflight import check_host, host_key_findings, inventory_hosts
from mooring.declare.errors import MooringError
from mooring.declare.secrets import stand_in_secrets
from tests.declared_world import HOSTS, SECRETS, World
from tests.test_mutants_model_compose import BUILD_FIX, BUILD_MESSAGE, all_yml, refusal, use_files
from tests.test_mutants_model_compose import shop  # noqa: F401 - the fixture: the shop's files in the project

PROVIDER_MESSAGE = ("{0} has no `image:` (a `provider:` service?): mooring deploys, pins and checks images, "
                    "and has none to give it")
PROVIDER_FIX = ("give {0} an image, or keep it out of the stack mooring deploys (a profile stack.compose.profiles "
                "does not list)")
PROVIDER = {"type": "model", "options": {"model": "ai/smollm2"}}


def compose_files_first(world: World, project: Path, name: str, text: bytes) -> None:
    """The stack reads ``shop/<name>`` (written as the bytes ``text``) first, then the shop's files."""
    (project / name).write_bytes(text)
    use_files(world, project, {})
    data = world.read("all.yml")
    data["stack"]["compose"]["files"].insert(0, f"shop/{name}")
    world.write("all.yml", data)


# --- services without an image: the file a refusal names ----------------------------------------

OTHER_DOCUMENT = "services:\n  cron:\n    image: busybox:1\n"


@pytest.mark.parametrize("build, encoding, before, after", [
    ("job", "utf-16", "", ""), ("on", "utf-8", "", ""), ("job", "utf-8", f"{OTHER_DOCUMENT}---\n", ""),
    ("job", "utf-8", "", f"---\n{OTHER_DOCUMENT}")],
    ids=["utf-16-file", "service-named-on", "second-yaml-document", "first-of-two-yaml-documents"])
def test_an_imageless_service_of_a_later_file_is_refused_in_that_file(world: World, shop: Path, build: str, encoding: str,
                                                                      before: str, after: str) -> None:  # noqa: F811
    """A file read after the shop's, as Compose reads it (UTF-16 with its BOM, as Windows
    PowerShell's ``>`` writes it; a service named ``on``, which YAML 1.1 reads as a boolean; the
    service in the file's second YAML document, or in its first of two): the refusal names that
    file, not the shop's first."""
    (shop / "jobs.yml").write_bytes(f"{before}services:\n  {build}:\n    build: ./worker\n{after}".encode(encoding))
    use_files(world, shop, {})
    data = world.read("all.yml")
    data["stack"]["compose"]["files"].append("shop/jobs.yml")
    world.write("all.yml", data)
    assert [(file, key) for file, key, _, _ in refusal()] == [("shop/jobs.yml", f"services.{build}.image")]


def test_a_scalar_under_compose_s_own_tags_is_read_for_where_the_service_is_written(world: World,
                                                                                    shop: Path) -> None:  # noqa: F811
    """``restart: !override "no"`` and ``command: !reset null`` (Compose's tags on scalars, not only
    on lists and mappings): the build service without an image is refused in its own file, the
    third one the stack reads, not in the first."""
    (shop / "jobs.yml").write_text('services:\n  job:\n    build: ./worker\n    restart: !override "no"\n'
                                   "    command: !reset null\n", encoding="utf-8")
    use_files(world, shop, {})
    data = world.read("all.yml")
    data["stack"]["compose"]["files"].append("shop/jobs.yml")
    world.write("all.yml", data)
    assert refusal() == [("shop/jobs.yml", "services.job.image", BUILD_MESSAGE.format("job"), BUILD_FIX.format("job"))]


def later_file(world: World, project: Path, name: str, text: bytes) -> None:
    """The stack reads the shop's files, then ``shop/<name>`` (written as the bytes ``text``)."""
    (project / name).write_bytes(text)
    use_files(world, project, {})
    data = world.read("all.yml")
    data["stack"]["compose"]["files"].append(f"shop/{name}")
    world.write("all.yml", data)


def test_services_of_included_files_are_refused_in_the_file_that_writes_each(world: World,
                                                                            shop: Path) -> None:  # noqa: F811
    """``include:`` as a plain path, as ``{path: ...}``, and as ``{path: [file, its override]}``,
    several in one file: each imageless service is refused in the included file that writes it."""
    (shop / "jobs").mkdir()
    for name, service in [("a", "job_a"), ("b", "job_b"), ("c", "job_c")]:
        (shop / "jobs" / f"{name}.yml").write_text(f"services:\n  {service}:\n    build: ../worker\n",
                                                  encoding="utf-8")
    (shop / "jobs" / "d.yml").write_text(f"services:\n  llm:\n    provider: {json.dumps(PROVIDER)}\n", encoding="utf-8")
    later_file(world, shop, "jobs.yml", b"include:\n  - jobs/a.yml\n  - path: jobs/b.yml\n"
                                        b"  - path: [jobs/c.yml, jobs/d.yml]\n")
    assert refusal() == [
        *[(f"shop/jobs/{name}.yml", f"services.{key}.image", BUILD_MESSAGE.format(key), BUILD_FIX.format(key))
          for name, key in [("a", "job_a"), ("b", "job_b"), ("c", "job_c")]],
        ("shop/jobs/d.yml", "services.llm.image", PROVIDER_MESSAGE.format("llm"), PROVIDER_FIX.format("llm")),
    ]


@pytest.mark.parametrize("first, encoding", [(True, "utf-16"), (False, "utf-8")], ids=["utf-16-first", "utf-8-later"])
def test_a_rule_finding_on_a_compose_service_names_the_file_that_writes_it(world: World, shop: Path, first: bool,
                                                                           encoding: str) -> None:  # noqa: F811
    """``tool``'s image has no tag: the warning names the compose file that writes ``tool`` (read
    after the shop's), and, when mooring cannot read that file (UTF-16, read first), the stack's
    first compose file, which is the same one here; never the shop's files, never no file."""
    text = "services:\n  tool:\n    image: shop/tool\n".encode(encoding)
    (compose_files_first if first else later_file)(world, shop, "tools.yml", text)
    found = [(f.outcome, f.path, f.message, f.file) for f in check_host(HOSTS["staging"][0], ["staging"])
             if f.check == "production.images_pinned"]
    assert found == [(Outcome.WARNING, "services.tool.image", "image 'shop/tool' is not pinned to a version",
                      "shop/tools.yml")]


@pytest.mark.parametrize("profiles, shown", [(["ops", "debug"], "ops, debug"), ([], "none")], ids=["two", "none"])
def test_extras_for_a_service_the_files_do_not_have_are_refused(world: World, shop: Path, profiles: list[str],
                                                                shown: str) -> None:  # noqa: F811
    """``stack.compose.services.ghost`` (in all.yml) names no service of the files with the
    profiles read: refused in all.yml, naming the profiles (or none) and the fix."""
    use_files(world, shop, {})
    data = world.read("all.yml")
    data["stack"]["compose"].update(profiles=profiles, services={"ghost": {"role": "worker"}})
    world.write("all.yml", data)
    assert refusal() == [(all_yml(world), "stack.compose.services.ghost",
                          f"ghost is not a service of the compose files (with profiles {shown})",
                          "use a service name of the files")]


@pytest.mark.parametrize("key, shown", [("JWT_SECRET", "***"), ("POSTGRES_USER", "solacore")], ids=["secret", "plain"])
def test_composes_error_on_an_interpolated_value_masks_secrets_only(world: World, shop: Path, key: str,
                                                                   shown: str) -> None:  # noqa: F811
    """Compose refuses a port it read from ``${KEY}``, quoting the value: a secret's value is
    masked in the refusal, a plain value (POSTGRES_USER) is shown as the user wrote it."""
    assert SECRETS["staging"]["JWT_SECRET"] not in shown
    use_files(world, shop, {"ports.yml": {"services": {"tool": {"image": "shop/tool:1", "ports": [f"${{{key}}}"]}}}})
    assert refusal() == [(all_yml(world), "stack.compose.files", f"invalid containerPort: {shown}",
                          "fix the compose file (the message is docker compose config's own)")]


def test_no_secrets_reports_each_secret_once_for_the_host(world: World) -> None:
    """Two stack env keys from one secret: ``validate --no-secrets`` names the secret once, at its
    first key, as a SKIPPED finding about the host checked."""
    data = world.read("all.yml")
    data["stack"]["env"]["JWT_SECRET_PREVIOUS"] = {"secret": "JWT_SECRET"}
    world.write("all.yml", data)
    host = HOSTS["staging"][0]
    with stand_in_secrets():
        found = [(f.subject, f.outcome, f.path, f.message) for f in check_host(host, ["staging"])
                 if f.check == "secrets.provided"]
    assert found == [
        (host, Outcome.SKIPPED, "stack.env.JWT_SECRET",
         "secret JWT_SECRET not read (--no-secrets): rules about its value ran on a stand-in"),
        (host, Outcome.SKIPPED, "stack.env.POSTGRES_PASSWORD",
         "secret POSTGRES_PASSWORD not read (--no-secrets): rules about its value ran on a stand-in"),
    ]


def test_a_stack_that_fails_to_render_is_reported_about_the_host(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rendering error (a broken template, as tests/test_mutants_preflight.py stands it in) is a
    FAILED render finding about the host checked: ``mooring validate`` groups and prints findings
    by host, so one about no host would be lost to the reader."""
    def broken(model):
        raise MooringError("templates/compose.yml.j2: line 3: unexpected end of template")

    monkeypatch.setattr(preflight, "render_stack", broken)
    host = HOSTS["staging"][0]
    found = [(f.subject, f.outcome, f.path) for f in check_host(host, ["staging"]) if f.check == "render.templates"]
    assert found == [(host, Outcome.FAILED, "stack")]


# --- inventories ------------------------------------------------------------------------------------

@pytest.mark.parametrize("group", ["web = ('web-1', {'ssh_port': 2222})", "web = (['web-1'], 'ops')"],
                         ids=["host-tuple-as-group", "group-data-not-a-dict"])
def test_a_group_tuple_pyinfra_would_misread_is_refused_naming_the_inventory_and_the_fix(tmp_path: Path,
                                                                                         group: str) -> None:
    """pyinfra reads a group tuple as ``(hosts, data)``: ``('web-1', {...})`` would become hosts
    w, e, b, -, 1, and data that is no mapping fails in pyinfra. Refused, with the two right forms."""
    path = tmp_path / "site.py"
    path.write_text(group + "\n", encoding="utf-8")
    with pytest.raises(MooringError) as refused:
        inventory_hosts(str(path))
    assert str(refused.value) == (f"inventory {path}: group web is a tuple, which pyinfra reads as (hosts, data): "
                                  "write a list, web = [\"host-1\", ...], or ([\"host-1\", ...], {...data})")


@contextlib.contextmanager
def c_locale() -> Iterator[None]:
    """Within this block this process's LC_CTYPE is C (ASCII); restored after it. Skips the test
    where that changes nothing (Python's UTF-8 mode, or a platform whose C locale is UTF-8)."""
    if sys.flags.utf8_mode:
        pytest.skip("Python's UTF-8 mode is on: text files are UTF-8 whatever the locale")
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        if locale.getpreferredencoding(False).lower().replace("-", "") == "utf8":
            pytest.skip("this platform's C locale is UTF-8")
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, before)


def test_a_compose_file_is_read_as_utf8_in_a_process_whose_locale_is_not(world: World,
                                                                         shop: Path) -> None:  # noqa: F811
    """A later compose file with non-ASCII text (a comment) is read for where its services are
    written under a C locale as well: the imageless service is refused in that file."""
    later_file(world, shop, "jobs.yml", "# Zürich team\nservices:\n  job:\n    build: ./worker\n".encode())
    with c_locale():
        refused = refusal()
    assert refused == [("shop/jobs.yml", "services.job.image", BUILD_MESSAGE.format("job"), BUILD_FIX.format("job"))]


def test_an_inventory_is_read_as_utf8_in_a_process_whose_locale_is_not(tmp_path: Path) -> None:
    """pyinfra reads inventory files as UTF-8; a controller whose locale is C without Python's
    UTF-8 mode (``PYTHONUTF8=0``, a minimal cron or CI environment) gets the same hosts and data
    from a file with non-ASCII text, not a decoding error, and its host keys are checked."""
    path = tmp_path / "site.py"
    path.write_text("# Zürich rack\nweb = [('web-1', {'ssh_user': 'josé', 'ssh_strict_host_key_checking': 'no'})]\n",
                    encoding="utf-8")
    with c_locale():
        hosts = inventory_hosts(str(path))
    assert [(h.name, h.groups, h.data) for h in hosts] == [
        ("web-1", ("web", "site"), {"ssh_user": "josé", "ssh_strict_host_key_checking": "no"})]
    assert [(f.subject, f.file) for f in host_key_findings(hosts, str(path))] == [("web-1", str(path))]
