"""The files mooring renders for a stack (declare/render.py ``render_stack``, ``team_compose_file``,
``_shipped_mount_files``, ``_team_text``, ``_compose_secret_files``, ``render_env_file``,
``_mount_files``, ``_backup_files``, ``_context``, ``_directories``, ``yaml_quote``,
``RenderedStack.file``), host-free, with the real Compose for a team's compose files: the host's
compose.yml is Compose's merged file in Compose's own key order, written as block YAML a person
reads (one list item a line, a long value on one line), root's and 0644; the team's files under
relative mounts are shipped with their declared owner and mode, and one that is not text is
refused naming the file and the fix; a Compose secret file and the .env (which says what it is)
are secret even when no value in them is; a secret YAML-escaped by a template (non-ASCII letters
included) still marks its file secret; each file names the template it comes from, and a
project's template mounted into a service is rendered for the host with the declared owner, group
and mode (root's and 0644 when none is declared); the stack folders a service mounts are created
when mooring owns them; a host without a stack, or a file the stack does not render, is named in
the error. Written for the mutation run (docs/mutation.md); the compose behaviour itself is
tests/test_compose_files.py's."""

from __future__ import annotations

import pytest
import yaml

from mooring.declare import compose_files
from mooring.declare.errors import MooringError
from mooring.declare.render import render_stack
from tests.declared_world import model_for, set_path
from tests.test_mutants_model_compose import shop, use_files  # noqa: F401 (the fixture)

JAVA_OPTS = ("-Xmx512m -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=200 -Dfile.encoding=UTF-8 "
             "-Duser.timezone=UTC -Djava.security.egd=file:/dev/./urandom")


def host_compose(world, project, extra: dict) -> tuple[str, dict]:
    """The rendered host compose.yml of a staging host whose stack takes the shop's files and ``extra``
    (file name → content); and the merged file as Compose itself writes it for the same stack."""
    use_files(world, project, extra)
    stack = model_for("staging").stack
    text = render_stack(model_for("staging")).file(stack.compose_file).content
    return text, yaml.safe_load(compose_files.host_file(stack.compose.source, stack.name))


def key_orders(data, where: str = "") -> dict[str, list[str]]:
    """Every mapping's keys in order, by its dotted place in ``data``."""
    if isinstance(data, dict):
        found = {where: list(data)}
        for key, value in data.items():
            found.update(key_orders(value, f"{where}.{key}"))
        return found
    if isinstance(data, list):
        found = {}
        for index, value in enumerate(data):
            found.update(key_orders(value, f"{where}.{index}"))
        return found
    return {}


def test_the_host_file_keeps_composes_own_key_order(world, shop):
    """Compose orders keys naturally (node2 before node10, as ``docker compose config`` shows
    them); the host's file keeps that order at every level, only ``build:`` and ``profiles:`` gone."""
    text, by_compose = host_compose(world, shop, {"override.yml": {
        "services": {"api": {"labels": {"node10": "b", "node2": "a", "node1": "c"}}}}})
    ours = yaml.safe_load(text)
    assert list(ours["services"]["api"]["labels"]) == ["node1", "node2", "node10"]
    for service in by_compose["services"].values():
        service.pop("build", None)
        service.pop("profiles", None)
    assert key_orders(ours) == key_orders(by_compose)
    assert ours == by_compose


def test_the_host_file_is_block_yaml_one_item_a_line(world, shop):
    """No flow ``[...]``/``{...}`` collections: each list item and each key on its own line, so
    the file reads (and a deploy's diff shows a changed item) line by line."""
    text, _ = host_compose(world, shop, {})
    assert "\nservices:\n  api:\n    depends_on:\n      db:\n        condition: service_healthy\n" in text
    assert "\n    cap_drop:\n    - ALL\n" in text
    assert "\n    expose:\n    - '8000'\n" in text
    assert "\n      test:\n      - CMD\n      - python3\n      - -m\n      - app\n" in text


def test_a_long_value_stays_on_one_line(world, shop):
    """A value longer than a terminal line (JVM options, 130 columns) is written whole on its line:
    a grep on the host finds it, no folded continuation line."""
    text, _ = host_compose(world, shop, {"override.yml": {"services": {"api": {"labels": {"jvm.options": JAVA_OPTS}}}}})
    assert f"\n    labels:\n      jvm.options: {JAVA_OPTS}\n" in text
    assert yaml.safe_load(text)["services"]["api"]["labels"]["jvm.options"] == JAVA_OPTS


def test_a_binary_file_under_a_relative_mount_is_refused_naming_it_and_the_fix(world, shop):
    """A PNG in the team's ./nginx folder (shipped to the host as text) stops the render with the
    file, the reason and the fix; the text files next to it are not the problem."""
    logo = shop / "nginx" / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    use_files(world, shop, {})
    model = model_for("staging")
    with pytest.raises(MooringError) as info:
        render_stack(model)
    (local,) = [p for p in model.stack.compose.relative_mounts.values()]
    assert str(info.value) == (f"{local / 'logo.png'}: mooring ships text files under a relative bind mount, this one "
                               "cannot be read as text (UnicodeDecodeError): keep binaries in the image")


def test_asking_for_a_file_the_stack_does_not_render_names_the_path(world):
    """``RenderedStack.file`` of a path it does not hold: a KeyError naming that path."""
    rendered = render_stack(model_for("staging"))
    assert rendered.file("/srv/mooring/solacore/.env").secret
    with pytest.raises(KeyError) as info:
        rendered.file("/srv/mooring/solacore/missing.conf")
    assert info.value.args == ("/srv/mooring/solacore/missing.conf",)


def test_the_team_compose_file_is_roots_and_readable_not_secret_and_from_no_template(world, shop):
    """The merged compose file holds no secret value (``${X}`` is filled on the host from .env):
    root:root 0644, not secret, written in Python (no template of mooring's)."""
    use_files(world, shop, {})
    rendered = render_stack(model_for("staging"))
    compose = rendered.file("/srv/mooring/solacore/compose.yml")
    assert (compose.mode, compose.owner, compose.group, compose.secret, compose.template) == (
        "0644", "root", "root", False, "")


def test_each_reference_file_names_the_template_it_comes_from(world):
    """What docs/declared-state.md lists as each rendered file's source: its template, none for
    the .env (written by the dotenv codec)."""
    rendered = render_stack(model_for("staging"))
    assert {f.path: f.template for f in rendered.files} == {
        "/srv/mooring/solacore/compose.yml": "compose.yml.j2",
        "/srv/mooring/solacore/.env": "",
        "/srv/mooring/solacore/nginx/conf.d/default.conf": "nginx/default.conf.j2",
        "/srv/mooring/solacore/bin/backup.sh": "backup.sh.j2",
        "/srv/mooring/solacore/bin/restore.sh": "restore.sh.j2",
        "/srv/mooring/solacore/bin/drill.sh": "drill.sh.j2",
        "/etc/cron.d/mooring-solacore": "crontab.j2",
    }


def test_a_projects_template_mounted_into_a_service_is_rendered_for_the_host_as_declared(world, monkeypatch):
    """A project's own template (``templates/app/app.ini.j2``, naming the host it is rendered for)
    under three mounts: a file declared app:staff 0640 gets exactly that; a file with nothing
    declared is root:root 0644; into a folder (declared owner app, mode 0750 for the folder) the
    file is app's and 0644. Each names the template and the service that mounts it."""
    monkeypatch.setenv("MOORING_PROJECT", str(world.root))
    (world.root / "templates" / "app").mkdir(parents=True)
    (world.root / "templates" / "app" / "app.ini.j2").write_text("[app]\nstack = {{ stack.name }}\nhost = {{ host }}\n")
    data = world.read("all.yml")
    mount = {"read_only": True, "template": "app/app.ini.j2"}
    set_path(data, "stack.services.api.volumes", [
        {**mount, "source": "${STACK_DIR}/app/app.ini", "target": "/etc/app/app.ini", "kind": "file",
         "owner": "app", "group": "staff", "mode": "0640"},
        {**mount, "source": "${STACK_DIR}/app/plain.ini", "target": "/etc/app/plain.ini", "kind": "file"},
        {**mount, "source": "${STACK_DIR}/appdir", "target": "/etc/appdir", "kind": "dir", "owner": "app",
         "mode": "0750"},
    ])
    world.write("all.yml", data)
    text = "[app]\nstack = solacore\nhost = staging-1.example.invalid\n"
    rendered = render_stack(model_for("staging"))
    assert {f.path: (f.content, f.mode, f.owner, f.group, f.used_by, f.template) for f in rendered.files
            if "/app" in f.path} == {
        "/srv/mooring/solacore/app/app.ini": (text, "0640", "app", "staff", ("api",), "app/app.ini.j2"),
        "/srv/mooring/solacore/app/plain.ini": (text, "0644", "root", "root", ("api",), "app/app.ini.j2"),
        "/srv/mooring/solacore/appdir/app.ini": (text, "0644", "app", "app", ("api",), "app/app.ini.j2"),
    }


def test_the_env_file_is_secret_even_when_no_value_in_it_is(world):
    """A stack that declares no ``{secret: NAME}`` at all: its .env is still secret (never shown in
    a diff or log) and private to root (0600)."""
    data = world.read("all.yml")
    set_path(data, "stack.env.POSTGRES_PASSWORD", "plain-db-pass")
    set_path(data, "stack.env.JWT_SECRET", "plain-jwt")
    world.write("all.yml", data)
    model = model_for("staging")
    assert model.stack.secret_values() == []
    env = render_stack(model).file("/srv/mooring/solacore/.env")
    assert env.content.startswith("# Managed by mooring: stack solacore (staging). Secret: mode 0600, never print "
                                  "it.\n")
    assert "POSTGRES_PASSWORD=plain-db-pass\n" in env.content
    assert (env.secret, env.mode, env.owner, env.group) == (True, "0600", "root", "root")


def test_a_non_ascii_secret_yaml_escaped_in_a_command_still_marks_the_file(world):
    """A secret with a non-ASCII letter and a quote, written in a command through the template's
    YAML quoting (``"Jwt\\"\\u00e9cret..."``, ASCII only): the compose file is secret."""
    secret = 'Jwt"\u00e9cret7LongValue'
    world.set_secret("staging", "JWT_SECRET", secret)
    data = world.read("staging.yml")
    set_path(data, "stack.services.api.command", ["app", "--jwt", secret])
    world.write("staging.yml", data)
    compose = render_stack(model_for("staging")).file("/srv/mooring/solacore/compose.yml")
    assert '      - "Jwt\\"\\u00e9cret7LongValue"\n' in compose.content
    assert yaml.safe_load(compose.content)["services"]["api"]["command"] == ["app", "--jwt", secret]
    assert compose.secret


def test_a_host_without_a_stack_is_refused_naming_the_host(world):
    """No ``stack:`` in any layer of the host: nothing to render, and the error says which host."""
    world.drop_stack("all.yml", "staging.yml")
    model = model_for("staging")
    assert model.stack is None
    with pytest.raises(MooringError) as info:
        render_stack(model)
    assert str(info.value) == "staging-1.example.invalid: no `stack:` is declared for this host"


def test_a_compose_secret_file_is_secret_and_roots_even_from_a_plain_env_key(world, shop):
    """``stack.compose.secrets`` may name a plain stack env key (TZ here): the file Compose mounts
    as a secret is still never shown in a diff or log, and root:root 0644 in its 0700 folder."""
    use_files(world, shop, {}, secrets={"pg_password": "TZ"})
    rendered = render_stack(model_for("staging"))
    secret = rendered.file("/srv/mooring/solacore/secrets/pg_password")
    assert (secret.content, secret.secret, secret.mode, secret.owner, secret.group) == (
        "Europe/Berlin", True, "0644", "root", "root")


def test_the_teams_files_under_relative_mounts_are_shipped_as_declared(world, shop):
    """A mounted file (./app.conf, declared app:staff 0640) is shipped to its place in the stack
    folder with that owner, group and mode; a mounted folder without a declaration (./static) is
    shipped file by file, subfolders kept, root:root 0644; each names the service that mounts it."""
    (shop / "app.conf").write_text("key = value\n")
    (shop / "static" / "css").mkdir(parents=True)
    (shop / "static" / "css" / "site.css").write_text("body {}\n")
    (shop / "static" / "index.html").write_text("<p>hi</p>\n")
    use_files(world, shop, {"override.yml": {"services": {"api": {
        "volumes": ["./app.conf:/etc/app/app.conf:ro", "./static:/srv/static:ro"]}}}})
    data = world.read("all.yml")
    data["stack"]["compose"]["mounts"]["./app.conf"] = {"owner": "app", "group": "staff", "mode": "0640"}
    world.write("all.yml", data)
    rendered = render_stack(model_for("staging"))
    shipped = {f.path: (f.content, f.mode, f.owner, f.group, f.used_by) for f in rendered.files
               if f.path.startswith(("/srv/mooring/solacore/app.conf", "/srv/mooring/solacore/static"))}
    assert shipped == {
        "/srv/mooring/solacore/app.conf": ("key = value\n", "0640", "app", "staff", ("api",)),
        "/srv/mooring/solacore/static/css/site.css": ("body {}\n", "0644", "root", "root", ("api",)),
        "/srv/mooring/solacore/static/index.html": ("<p>hi</p>\n", "0644", "root", "root", ("api",)),
    }
    # The folders: a shipped folder's subfolders, the secrets' own 0700 folder, nothing above the stack's.
    assert [(d.path, d.owner, d.group, d.mode) for d in rendered.directories] == [
        ("/srv/mooring/solacore", "root", "root", "0755"), ("/srv/mooring/solacore/bin", "root", "root", "0755"),
        ("/srv/mooring/solacore/nginx", "root", "root", "0755"), ("/srv/mooring/solacore/secrets", "root", "root", "0700"),
        ("/srv/mooring/solacore/static", "root", "root", "0755"),
        ("/srv/mooring/solacore/static/css", "root", "root", "0755"),
        ("/var/backups/mooring/solacore", "root", "root", "0700")]


def test_the_stack_folders_a_service_mounts_are_created_when_mooring_owns_them(world):
    """After a named volume in the list: a writable folder of the stack is created (root's); so is
    a read-only one that a template fills or that declares its owner; a read-only folder with
    nothing declared is left to whoever fills it (not created)."""
    data = world.read("all.yml")
    set_path(data, "stack.services.api.volumes", [
        {"source": "apicache", "target": "/cache"},
        {"source": "${STACK_DIR}/uploads", "target": "/uploads", "kind": "dir"},
        {"source": "${STACK_DIR}/conf", "target": "/etc/conf", "kind": "dir", "read_only": True,
         "template": "nginx/default.conf.j2"},
        {"source": "${STACK_DIR}/static", "target": "/static", "kind": "dir", "read_only": True, "owner": "app"},
        {"source": "${STACK_DIR}/seed", "target": "/seed", "kind": "dir", "read_only": True},
        {"source": "${STACK_DIR}/etc/site.conf", "target": "/etc/site.conf", "kind": "file", "read_only": True,
         "template": "nginx/default.conf.j2"},
        {"source": "${STACK_DIR}/tls/site.pem", "target": "/tls/site.pem", "kind": "file", "read_only": True},
    ])
    world.write("all.yml", data)
    folders = {d.path: (d.owner, d.group, d.mode) for d in render_stack(model_for("staging")).directories}
    assert {path: folders.get(path) for path in ("/srv/mooring/solacore/uploads", "/srv/mooring/solacore/conf",
                                                 "/srv/mooring/solacore/static", "/srv/mooring/solacore/seed",
                                                 "/srv/mooring/solacore/etc", "/srv/mooring/solacore/tls")} == {
        "/srv/mooring/solacore/uploads": ("root", "root", "0755"),
        "/srv/mooring/solacore/conf": ("root", "root", "0755"),
        "/srv/mooring/solacore/static": ("app", "app", "0755"),
        "/srv/mooring/solacore/seed": None,
        "/srv/mooring/solacore/etc": ("root", "root", "0755"),  # a template's file: mooring writes it, so its folder
        "/srv/mooring/solacore/tls": None,  # a file mooring does not write: its folder is the host's
    }


def test_a_shipped_folders_declared_mode_is_kept_when_its_subfolders_are_added(world, shop):
    """./static declared app:app 0750: its subfolder css is created for the files in it (their
    owner, 0755), and the folder itself keeps the mode declared for it."""
    (shop / "static" / "css").mkdir(parents=True)
    (shop / "static" / "css" / "site.css").write_text("body {}\n")
    use_files(world, shop, {"override.yml": {"services": {"api": {"volumes": ["./static:/srv/static:ro"]}}}})
    data = world.read("all.yml")
    data["stack"]["compose"]["mounts"]["./static"] = {"owner": "app", "group": "app", "mode": "0750"}
    world.write("all.yml", data)
    folders = {d.path: (d.owner, d.group, d.mode) for d in render_stack(model_for("staging")).directories}
    assert {path: folders.get(path) for path in ("/srv/mooring/solacore/static", "/srv/mooring/solacore/static/css")} == {
        "/srv/mooring/solacore/static": ("app", "app", "0750"),
        "/srv/mooring/solacore/static/css": ("app", "app", "0755"),
    }
