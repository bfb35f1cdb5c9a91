"""The pre-flight over an inventory (checks/preflight.py), host-free and in-process: reading a
pyinfra inventory, ``--limit``, findings identical on a group's hosts reported once, the
order of findings, the refusals of a missing declared state or inventory, and what a deploy
file's ``assert_host_ready`` raises. Written for the mutation run (docs/mutation.md)."""

from __future__ import annotations

import logging

import pytest

from mooring.checks import preflight
from mooring.checks.findings import Finding, Outcome
from mooring.checks.preflight import (InventoryHost, assert_host_ready, check_host, group_findings, inventory_hosts,
                              preflight_report, problem_findings, select_hosts, sort_findings)
from mooring.declare.errors import ConfigError, ConfigProblem, MooringError


def write_inventory(tmp_path, text: str, name: str = "inv.py"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_an_inventory_file_gives_hosts_groups_and_data(tmp_path):
    path = write_inventory(tmp_path, "\n".join([
        "web = [('w1', {'ssh_port': 2222}), 'w2']",
        "db = (['d1', 'w2'], {'ssh_user': 'ops'})",
        "_private = ['hidden']",
        "empty = []",
        "numbers = [1, 2]",
        "text = 'w1'",
        "mixed = ['w1', 3]",
    ]), name="site.py")
    hosts = inventory_hosts(path)
    assert [(h.name, h.groups, h.data) for h in hosts] == [
        ("w1", ("web", "site"), {"ssh_port": 2222}),
        ("w2", ("web", "db", "site"), {"ssh_user": "ops"}),
        ("d1", ("db", "site"), {"ssh_user": "ops"}),
    ]


@pytest.mark.parametrize("group, why", [
    ("pairs = [('w2',)]", "group pairs: host entry ('w2',) is neither a name nor (name, {...data})"),
    ("pairs = [('w2', None)]", "group pairs: host entry ('w2', None) is neither a name nor (name, {...data})"),
    ("web = ('w1', 'w2')", "group web is a tuple, which pyinfra reads as (hosts, data): write a list"),
])
def test_a_group_pyinfra_would_misread_is_refused_naming_the_file_and_the_fix(tmp_path, group, why):
    path = write_inventory(tmp_path, group + "\n", name="site.py")
    with pytest.raises(MooringError) as refused:
        inventory_hosts(path)
    assert str(refused.value).startswith(f"inventory {path}: {why}"), refused.value


def test_an_all_group_lists_the_hosts_and_the_file_group_may_be_declared(tmp_path):
    path = write_inventory(tmp_path, "all = ['b', 'a']\nsite = ['a']\nother = ['b']\n", name="site.py")
    assert [(h.name, h.groups) for h in inventory_hosts(path)] == [("b", ("other",)), ("a", ("site",))]


def test_host_data_over_group_data():
    assert preflight._host_data((["a", ("b", {"x": 2})], {"x": 1, "y": 1})) == {"a": {"x": 1, "y": 1},
                                                                              "b": {"x": 2, "y": 1}}
    assert preflight._host_data(["a", ("b", {"x": 2}), ("c", "not data"), 5]) == {"a": {}, "b": {"x": 2}}


def test_names_instead_of_an_inventory_file(tmp_path):
    assert [(h.name, h.groups) for h in inventory_hosts(" a , b,,")] == [("a", ()), ("b", ())]
    with pytest.raises(MooringError, match=r"^inventory missing\.py does not exist$"):
        inventory_hosts("missing.py")
    with pytest.raises(MooringError, match=r"^inventory dir/x does not exist$"):
        inventory_hosts("dir/x")


def test_a_broken_inventory_says_where_and_why(tmp_path):
    bad = write_inventory(tmp_path, "web = [\n")
    with pytest.raises(MooringError, match=rf"^inventory {bad}: line 1: '\[' was never closed$"):
        inventory_hosts(bad)
    failing = write_inventory(tmp_path, "raise RuntimeError('no sandbox yet')\n", name="f.py")
    with pytest.raises(MooringError, match=rf"^inventory {failing}: RuntimeError: no sandbox yet$"):
        inventory_hosts(failing)
    seen = write_inventory(tmp_path, "web = [__name__, __file__.rsplit('/', 1)[1]]\n", name="n.py")
    assert [h.name for h in inventory_hosts(seen)] == ["mooring_inventory", "n.py"]


HOSTS = [InventoryHost("prod-1", ("production", "eu")), InventoryHost("prod-2", ("production",)),
         InventoryHost("stage-1", ("staging", "eu"))]


@pytest.mark.parametrize(("limit", "names"), [
    (None, ["prod-1", "prod-2", "stage-1"]), ([], ["prod-1", "prod-2", "stage-1"]), (["prod-*"], ["prod-1", "prod-2"]),
    (["eu"], ["prod-1", "stage-1"]), (["stage-1,prod-2"], ["prod-2", "stage-1"]), (["x", "staging"], ["stage-1"]),
    ([","], []), (["nothing"], []),
])
def test_limit_selects_by_name_pattern_or_group(limit, names):
    assert [h.name for h in select_hosts(HOSTS, limit)] == names


def finding(subject: str, message: str = "m", outcome: Outcome = Outcome.FAILED, check: str = "c", path: str = "p",
            file: str = "") -> Finding:
    return Finding(check, outcome, subject, path, message, "fix", file)


def test_a_finding_on_every_host_of_a_group_is_reported_once(tmp_path):
    (tmp_path / "production.yml").write_text("{}\n")
    found = group_findings([finding("prod-1"), finding("prod-2"), finding("stage-1", "other"),
                            finding("prod-1", "once"), finding("prod-1", "once")], HOSTS, tmp_path)
    assert [(f.subject, f.message) for f in found] == [("group:production", "m"), ("stage-1", "other"),
                                                       ("prod-1", "once")]


def test_the_group_is_one_with_a_layer_or_named_by_the_file(tmp_path):
    hosts = [InventoryHost("a", ("g1", "g2", "g3")), InventoryHost("b", ("g1", "g2", "g3"))]
    assert group_findings([finding("a"), finding("b")], hosts, tmp_path)[0].subject == "group:g1"
    (tmp_path / "g2.yml").write_text("{}\n")
    assert group_findings([finding("a"), finding("b")], hosts, tmp_path)[0].subject == "group:g2"
    named = [finding("a", file=str(tmp_path / "g3.yml")), finding("b", file=str(tmp_path / "g3.yml"))]
    assert group_findings(named, hosts, tmp_path)[0].subject == "group:g3"
    # a group with more hosts than the finding's does not cover it
    wider = [InventoryHost("a", ("g",)), InventoryHost("b", ("g",)), InventoryHost("c", ("g",))]
    assert [f.subject for f in group_findings([finding("a"), finding("b")], wider, tmp_path)] == ["a", "b"]


def test_findings_differing_in_any_part_are_kept_apart(tmp_path):
    hosts = [InventoryHost("a", ("g",)), InventoryHost("b", ("g",))]
    for change in (dict(check="d"), dict(outcome=Outcome.WARNING), dict(path="q"), dict(message="n"),
                   dict(file="/f.yml")):
        found = group_findings([finding("a"), finding("b", **change)], hosts, tmp_path)
        assert [f.subject for f in found] == ["a", "b"], change
    import dataclasses

    # the fix, and what a live finding carries (its host, resource, expected and actual state)
    for change in (dict(fix="other"), dict(host="b"), dict(kind="live"), dict(resource="file:/x"),
                   dict(expected="0600"), dict(actual="0644")):
        other = dataclasses.replace(finding("b"), **change)
        assert [f.subject for f in group_findings([finding("a"), other], hosts, tmp_path)] == ["a", "b"], change


def test_findings_are_sorted_worst_first_then_by_subject_check_and_path():
    items = [finding("b", outcome=Outcome.PASSED), finding("b", check="a"), finding("a", outcome=Outcome.WARNING),
             finding("a", check="z", path="2"), finding("a", check="z", path="1"),
             finding("c", outcome=Outcome.SKIPPED), finding("c", outcome=Outcome.ERROR)]
    assert [(f.outcome.value, f.subject, f.check, f.path) for f in sort_findings(items)] == [
        ("error", "c", "c", "p"), ("failed", "a", "z", "1"), ("failed", "a", "z", "2"), ("failed", "b", "a", "p"),
        ("warning", "a", "c", "p"), ("skipped", "c", "c", "p"), ("passed", "b", "c", "p")]


def test_problems_become_failed_findings():
    problems = [ConfigProblem("/g/all.yml", "stack.x", "is wrong", "fix it")]
    assert problem_findings(problems, "h") == [Finding("declared", Outcome.FAILED, "h", "stack.x", "is wrong", "fix it",
                                                       "/g/all.yml")]
    assert problem_findings(problems, "h", "inventory")[0].check == "inventory"


def test_no_declared_state_is_one_finding(tmp_path, world):
    report = preflight_report(str(world.inventory), group_data=tmp_path)
    assert report.hosts == () and not report.valid
    assert [(f.check, f.outcome, f.subject, f.message, f.fix) for f in report.findings] == [
        ("declared", Outcome.FAILED, str(tmp_path), f"no declared state: {tmp_path}/all.yml does not exist",
         "point --group-data (or MOORING_GROUP_DATA) at the folder with all.yml and the group files")]


def test_a_broken_or_empty_selection_is_one_inventory_finding(tmp_path, world):
    report = preflight_report(str(tmp_path / "none.py"), group_data=world.group_data)
    assert [(f.check, f.subject, f.message, f.fix) for f in report.findings] == [
        ("inventory", str(tmp_path / "none.py"), f"inventory {tmp_path / 'none.py'} does not exist",
         "do what the message says, or fix the inventory (module-level lists of host names)")]
    nobody = preflight_report(str(world.inventory), ["nobody", "none"], world.group_data)
    assert [(f.check, f.outcome, f.message, f.fix) for f in nobody.findings] == [
        ("inventory", Outcome.FAILED, "no hosts matching nobody, none in the inventory", "check the inventory and --limit")]
    empty = preflight_report(write_inventory(tmp_path, "x = 1\n", "e.py"), None, world.group_data)
    assert [f.message for f in empty.findings] == ["no hosts in the inventory"]


def test_a_valid_inventory_reports_its_hosts_with_group_findings(world):
    report = preflight_report(str(world.inventory), ["sandbox"])
    assert [h.name for h in report.hosts] == ["docker-1", "docker-2"] and report.valid
    subjects = {f.subject for f in report.findings}
    assert "group:sandbox" in subjects
    outcomes = [f.outcome for f in report.findings]
    assert outcomes == sorted(outcomes, key=lambda o: preflight._ORDER[o])
    declared = [f for f in report.findings if f.check == "declared"]
    assert [(f.subject, f.outcome, f.message) for f in declared] == [("group:sandbox", Outcome.PASSED, "ok")]
    assert preflight.preflight_inventory(str(world.inventory), ["sandbox"]) == report.findings


def test_a_broken_layer_is_a_declared_finding_of_each_host(world):
    data = world.read("sandbox.yml")
    data["stack"]["services"]["api"]["image"] = 5
    world.write("sandbox.yml", data)
    found = check_host("docker-1", ["sandbox"])
    assert [(f.check, f.outcome, f.subject, f.path) for f in found] == [
        ("declared", Outcome.FAILED, "docker-1", "stack.services.api.image")]
    assert found[0].file.endswith("sandbox.yml")


def test_a_good_host_gets_a_declared_ok_and_a_rendered_ok_first(world):
    found = check_host("docker-1", ["sandbox"])
    assert [(f.check, f.outcome, f.subject, f.path, f.message) for f in found[:2]] == [
        ("declared", Outcome.PASSED, "docker-1", "", "ok"), ("render.templates", Outcome.PASSED, "docker-1", "", "ok")]
    assert not [f for f in found if f.outcome is Outcome.FAILED]
    assert len({f.check for f in found}) > 20  # every rule ran


class FakeData:
    def __init__(self, data):
        self.data = data

    def dict(self):
        return dict(self.data)


class FakeHost:
    def __init__(self, name, groups, data=None):
        self.name, self.groups, self.data = name, groups, FakeData(data or {"ssh_strict_host_key_checking": "yes"})


def test_a_deploy_file_gets_the_model_of_a_ready_host_and_warnings_are_logged(world, caplog, monkeypatch):
    warning = Finding("x.y", Outcome.WARNING, "docker-1", "stack.a", "be careful", "do this")
    real = preflight.check_model
    monkeypatch.setattr(preflight, "check_model", lambda model: [*real(model), warning])
    with caplog.at_level(logging.WARNING, logger="mooring.checks.preflight"):
        model = assert_host_ready(FakeHost("docker-1", ["sandbox"]))
    assert model.name == "docker-1" and model.stack.name == "solacore"
    assert [r.getMessage() for r in caplog.records if r.name == "mooring.checks.preflight"] == [str(warning)]


def test_a_deploy_file_is_refused_with_every_failed_finding(world, monkeypatch):
    failures = [Finding("a.b", Outcome.FAILED, "docker-1", "stack.x", "is bad", "fix x", "/g/all.yml"),
                Finding("c.d", Outcome.FAILED, "docker-1", "", "also bad", "fix y"),
                Finding("e.f", Outcome.PASSED, "docker-1", "", "ok")]
    monkeypatch.setattr(preflight, "check_model", lambda model: failures)
    with pytest.raises(ConfigError) as info:
        assert_host_ready(FakeHost("docker-1", ["sandbox"]))
    assert info.value.problems == [ConfigProblem("/g/all.yml", "stack.x", "a.b: is bad", "fix x"),
                                   ConfigProblem("docker-1", "", "c.d: also bad", "fix y")]


def test_preflight_inventory_passes_limit_and_group_data_on(world, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    [missing] = preflight.preflight_inventory(str(world.inventory), ["sandbox"], empty)
    assert missing.message == f"no declared state: {empty}/all.yml does not exist"
    [nobody] = preflight.preflight_inventory(str(world.inventory), ["nobody"], world.group_data)
    assert nobody.message == "no hosts matching nobody in the inventory"


def test_no_secrets_lists_each_secret_checked_on_a_stand_in(world):
    from mooring.declare.secrets import stand_in_secrets

    with stand_in_secrets():
        found = check_host("prod-1.example.invalid", ["production"])
    stand_ins = [(f.check, f.outcome, f.path, f.message, f.fix) for f in found if f.check == "secrets.provided"]
    assert stand_ins == [
        ("secrets.provided", Outcome.SKIPPED, "stack.env.JWT_SECRET",
         "secret JWT_SECRET not read (--no-secrets): rules about its value ran on a stand-in",
         "run mooring validate without --no-secrets where JWT_SECRET is provided"),
        ("secrets.provided", Outcome.SKIPPED, "stack.env.POSTGRES_PASSWORD",
         "secret POSTGRES_PASSWORD not read (--no-secrets): rules about its value ran on a stand-in",
         "run mooring validate without --no-secrets where POSTGRES_PASSWORD is provided"),
    ]
    assert not [f for f in check_host("prod-1.example.invalid", ["production"]) if f.check == "secrets.provided"]


def test_a_template_that_fails_to_render_leaves_the_other_rules_running(world, monkeypatch):
    def broken(model):
        raise MooringError("templates/compose.yml.j2: line 3: unexpected end of template")

    monkeypatch.setattr(preflight, "render_stack", broken)
    found = check_host("docker-1", ["sandbox"])
    assert [(f.check, f.outcome, f.path, f.message, f.fix) for f in found[:2]] == [
        ("declared", Outcome.PASSED, "", "ok", ""),
        ("render.templates", Outcome.FAILED, "stack", "templates/compose.yml.j2: line 3: unexpected end of template",
         "fix the template or report a bug")]
    skipped = {f.check: f.message for f in found if f.outcome is Outcome.SKIPPED and f.check.startswith("render.")}
    assert skipped == {name: "not run: rendering failed" for name in
                       ("render.compose_config", "render.env_roundtrip", "render.shell_syntax", "render.shellcheck")}
    assert {f.check for f in found if f.outcome is Outcome.PASSED} >= {"ports.unique", "services.references"}


def test_check_host_reads_the_group_data_it_is_given(world, tmp_path):
    import shutil

    other = tmp_path / "other_group_data"
    shutil.copytree(world.group_data, other)
    data = world.read("sandbox.yml")
    data["stack"]["services"]["api"]["image"] = 5
    (other / "sandbox.yml").write_text(__import__("yaml").safe_dump(data))
    assert [f.outcome for f in check_host("docker-1", ["sandbox"]) if f.check == "declared"] == [Outcome.PASSED]
    [broken] = check_host("docker-1", ["sandbox"], other)
    assert (broken.check, broken.path, broken.file) == ("declared", "stack.services.api.image", str(other / "sandbox.yml"))
