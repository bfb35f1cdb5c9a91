"""A project's own templates: a file under the project's ``templates/`` replaces mooring's of the
same name, and may build on it as ``mooring/<name>``; every rule still runs on what it renders."""

from __future__ import annotations

import pytest

from mooring.declare.render import render_stack
from tests.declared_world import model_for

NGINX = "/srv/mooring/solacore/nginx/conf.d/default.conf"


@pytest.fixture
def project(world, monkeypatch):
    monkeypatch.setenv("MOORING_PROJECT", str(world.root))
    (world.root / "templates" / "nginx").mkdir(parents=True)
    return world


def rendered_nginx() -> str:
    [item] = [f for f in render_stack(model_for("staging")).files if f.path.endswith("nginx/conf.d/default.conf")]
    return item.content


def test_an_override_builds_on_mooring_own_template(project):
    plain = rendered_nginx()
    (project.root / "templates" / "nginx" / "default.conf.j2").write_text(
        '# our edge rules\n{% include "mooring/nginx/default.conf.j2" %}')
    assert rendered_nginx() == "# our edge rules\n" + plain


def test_an_override_replaces_the_template_and_the_rules_check_it(project):
    from mooring.checks.preflight import check_host
    from tests.declared_world import HOSTS

    (project.root / "templates" / "nginx" / "default.conf.j2").write_text("server { listen {{ proxy.listen_port }}; }\n")
    assert rendered_nginx() == "server { listen 80; }\n"
    (project.root / "templates" / "crontab.j2").write_text("{{ stack.no_such_thing }}\n")
    failed = [f for f in check_host(HOSTS["staging"][0], ["staging"]) if f.outcome.value == "failed"]
    assert [f.check for f in failed] == ["render.templates"] and "no_such_thing" in failed[0].message, failed


def test_without_a_project_folder_mooring_own_templates_render(world, monkeypatch):
    monkeypatch.setenv("MOORING_PROJECT", str(world.root))
    assert "proxy_pass" in rendered_nginx() or "upstream" in rendered_nginx()


def test_an_override_moved_into_place_is_used_at_once(project):
    """A file renamed to a template's name keeps its modification time (``mv``): the project's
    templates are told apart by their names too, so the next render uses the override."""
    plain = rendered_nginx()
    draft = project.root / "templates" / "nginx" / "draft.conf.j2"
    draft.write_text("server { listen {{ proxy.listen_port }}; }\n")
    assert rendered_nginx() == plain
    draft.rename(draft.with_name("default.conf.j2"))
    assert rendered_nginx() == "server { listen 80; }\n"


def test_a_broken_or_missing_template_names_the_file_at_fault(project):
    """A syntax error is reported in the template that holds it (an included one, not the one
    rendered), with its line; an include of a template nobody has names both."""
    from mooring.declare.render import RenderError, render_template

    templates = project.root / "templates"
    (templates / "nginx" / "default.conf.j2").write_text('# edge\n{% include "partial.j2" %}\n')
    (templates / "partial.j2").write_text("ok\n{% if %}\n")
    with pytest.raises(RenderError) as info:
        render_template("nginx/default.conf.j2")
    assert str(info.value) == "templates/partial.j2: line 2: Expected an expression, got 'end of statement block'"
    (templates / "partial.j2").write_text('{% include "missing.j2" %}\n')
    with pytest.raises(RenderError) as info:
        render_template("nginx/default.conf.j2")
    assert str(info.value) == "templates/nginx/default.conf.j2: template not found (missing.j2)"
