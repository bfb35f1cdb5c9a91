"""Render a host's stack into the files and folders its host needs (deterministic: same model,
same bytes, so a second deploy changes nothing).

Templates live in ``templates/`` (Jinja2, StrictUndefined): ``compose.yml.j2``,
``nginx/default.conf.j2``, ``prometheus/prometheus.yml.j2``, ``backup.sh.j2``,
``restore.sh.j2``, ``crontab.j2``. The ``.env`` file is written in Python
(:func:`mooring.declare.secrets.format_dotenv`) so that Compose reads back exactly the declared values.
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jinja2
import yaml

from mooring.declare import compose_files, dumps
from mooring.declare.compose import CLEAN_ENV_PREFIX
from mooring.declare.errors import MooringError, MooringRunError
from mooring.declare.interpolation import COMPOSE_DOLLAR_RE
from mooring.declare.model import HostModel, Stack
from mooring.declare.paths import TEMPLATES
from mooring.declare.secrets import format_dotenv, parse_dotenv, quote_env_value

ROOT_OWNER = "root"
CRON_DIR = "/etc/cron.d"


@dataclass(frozen=True)
class RemoteDir:
    """A folder on the host, with its owner, group and octal mode (e.g. "0755")."""

    path: str
    owner: str
    group: str
    mode: str


@dataclass(frozen=True)
class RenderedFile:
    """A file for the host: absolute ``path``, its full ``content`` and ownership.

    ``secret`` files (the ``.env``, or anything that contains a secret value) must never be
    shown in a diff or log. ``used_by`` lists the services that mount it: compose does not
    notice a changed mounted file, so those services need a restart when it changes.
    ``template`` names the source template ("" for files written in Python).
    """

    path: str
    content: str = field(repr=False)
    mode: str
    owner: str
    group: str
    secret: bool = False
    template: str = ""
    used_by: tuple[str, ...] = ()


@dataclass
class RenderedStack:
    """Everything a deploy writes for one stack: folders first (parents before children), then
    files; ``absent`` are files an earlier deploy may have written that must go (the backup job's,
    once backups are disabled). Data (dumps, volumes) is never among them."""

    directories: list[RemoteDir]
    files: list[RenderedFile]
    absent: list[str] = field(default_factory=list)

    def file(self, path: str) -> RenderedFile:
        """The rendered file at ``path`` (KeyError when there is none)."""
        for rendered in self.files:
            if rendered.path == path:
                return rendered
        raise KeyError(path)

    def scripts(self) -> list[RenderedFile]:
        """The shell scripts (checked with ``sh -n`` and shellcheck)."""
        return [f for f in self.files if f.content.startswith("#!/bin/sh")]


class RenderError(MooringError):
    """A template failed to render (undefined variable, syntax error): a bug in a template or in the model."""


# --- Jinja filters ------------------------------------------------------------------------

def yaml_quote(value: Any) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML).

    >>> yaml_quote("a: b")
    '"a: b"'
    """
    return json.dumps(str(value), ensure_ascii=True)


def compose_escape(value: Any) -> str:
    """Escape ``$`` for compose interpolation, keeping ``${KEY}`` and Compose's other forms (a
    stack env reference, filled from .env) and ``$$`` (Compose's own escape of a literal ``$``, as in a copied compose file:
    ``$${`` is a literal ``${``).

    >>> compose_escape("pg_isready -d ${POSTGRES_DB} && echo $HOME costs $5")
    'pg_isready -d ${POSTGRES_DB} && echo $$HOME costs $$5'
    >>> compose_escape("test $$(date +%s) -gt 0")  # copied from a compose file: not escaped twice
    'test $$(date +%s) -gt 0'
    >>> compose_escape("psql -d ${POSTGRES_DB:-app} -U ${POSTGRES_USER:?set it}")  # Compose's other forms
    'psql -d ${POSTGRES_DB:-app} -U ${POSTGRES_USER:?set it}'
    """
    def repl(match: re.Match) -> str:
        text = match.group(0)
        return "$$" if text == "$" else text
    return COMPOSE_DOLLAR_RE.sub(repl, str(value))


def shell_quote(value: Any) -> str:
    """A POSIX shell word.

    >>> shell_quote("/srv/mooring/solacore"), shell_quote("a b")
    ('/srv/mooring/solacore', "'a b'")
    """
    return shlex.quote(str(value))


def jinja_env() -> jinja2.Environment:
    """The template environment: StrictUndefined, blocks trimmed, trailing newlines kept.

    A project may override any template with its own file of the same name under its
    ``templates/`` folder; an override can build on mooring's own as ``mooring/<name>``
    (``{% extends "mooring/nginx/default.conf.j2" %}``).
    """
    folder = project_templates()
    if folder is None:
        return _jinja_env("", ())
    # Keyed on the override files too: jinja's cache would keep serving mooring's template after
    # a project adds its own of the same name.
    return _jinja_env(str(folder), tuple(sorted((str(p), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file())))


def project_templates() -> Path | None:
    """The project's own ``templates/`` folder, when it has one (and it is not mooring's)."""
    from mooring.declare.paths import NotAProject, project_root

    try:
        folder = project_root() / "templates"
    except NotAProject:
        return None
    return folder if folder.is_dir() and folder.resolve() != TEMPLATES.resolve() else None


@functools.lru_cache(maxsize=8)
def _jinja_env(overrides: str, _files: tuple = ()) -> jinja2.Environment:
    own = jinja2.FileSystemLoader(str(TEMPLATES))
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(overrides)] if overrides else []
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([*loaders, jinja2.PrefixLoader({"mooring": own}), own]),
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(yq=yaml_quote, cs=compose_escape, sh=shell_quote)
    return env


def render_template(name: str, **context: Any) -> str:
    """Render ``templates/<name>``; a missing variable or template is a :class:`RenderError`.

    >>> render_template("crontab.j2")
    Traceback (most recent call last):
    mooring.declare.render.RenderError: templates/crontab.j2: 'stack' is undefined
    """
    try:
        return jinja_env().get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"templates/{name}: template not found ({exc.name})") from None
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"templates/{exc.name or name}: line {exc.lineno}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise RenderError(f"templates/{name}: {exc.message}") from None


# --- the stack ----------------------------------------------------------------------------

def render_stack(model: HostModel) -> RenderedStack:
    """Render every file of ``model``'s stack (raise ``MooringError`` when it declares none).

    >>> from mooring.declare.model import build_model
    >>> rendered = render_stack(build_model("docker-1", ["sandbox"]))
    >>> [f.path for f in rendered.files][:2]
    ['/srv/mooring/solacore/compose.yml', '/srv/mooring/solacore/.env']
    >>> env = rendered.file("/srv/mooring/solacore/.env")
    >>> env.mode, env.secret
    ('0600', True)
    """
    stack = model.stack
    if stack is None:
        raise MooringError(f"{model.name}: no `stack:` is declared for this host")
    context = _context(model, stack)
    compose = (RenderedFile(stack.compose_file, team_compose_file(stack), "0644", ROOT_OWNER, ROOT_OWNER)
               if stack.compose else
               RenderedFile(stack.compose_file, render_template("compose.yml.j2", **context), "0644", ROOT_OWNER,
                            ROOT_OWNER, template="compose.yml.j2"))
    shipped = _shipped_mount_files(stack)
    secret_files = _compose_secret_files(stack)
    files = [
        compose,
        RenderedFile(stack.env_file, render_env_file(stack), "0600", ROOT_OWNER, ROOT_OWNER, secret=True),
        *_mount_files(stack, context),
        *shipped,
        *secret_files,
        *_backup_files(stack, context),
    ]
    secrets = stack.secret_values()
    files = [_mark_secret(f, secrets) for f in files]
    return RenderedStack(_directories(stack, shipped, secret_files), files, _absent_files(stack, files))


def _compose_secret_files(stack: Stack) -> list[RenderedFile]:
    """The compose files' ``secrets:`` sources, written from the stack env. Mode 0644 in a 0700
    root folder: no other host user can reach them, and a container running as any user (Compose
    bind-mounts the file itself) can read its secret."""
    if not stack.compose:
        return []
    return [RenderedFile(posixpath.normpath(posixpath.join(stack.dir, rel)), stack.env[key].value, "0644", ROOT_OWNER,
                         ROOT_OWNER, secret=True)
            for _name, (rel, key) in sorted(stack.compose.secret_files.items())]


def team_compose_file(stack: Stack) -> str:
    """The team's compose files merged by Compose for the host: ``${X}`` left for the host's
    Compose to fill from .env, relative mounts relative to the stack folder, no ``build:`` (the
    host runs images; it never builds), no ``profiles:`` (the declared ones are selected here)."""
    data = yaml.safe_load(compose_files.host_file(stack.compose.source, stack.name))
    data["name"] = stack.name
    for service in (data.get("services") or {}).values():
        service.pop("build", None)
        # Compose wrote only the services of the declared profiles: the host runs exactly those.
        service.pop("profiles", None)
    header = (f"# Managed by mooring: stack {stack.name} ({stack.environment}), merged by Compose from "
              f"{', '.join(stack.compose.source.declared)}.\n# Do not edit on the host: the next deploy overwrites it.\n")
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)


def _shipped_mount_files(stack: Stack) -> list[RenderedFile]:
    """The team's files under relative bind mounts (./config), copied into the stack folder."""
    if not stack.compose:
        return []
    users: dict[str, list[str]] = {}
    attrs: dict[str, Any] = {}
    for service in stack.services.values():
        for mount in service.volumes:
            if mount.type == "bind" and _in_stack_dir(mount.source, stack):
                users.setdefault(mount.source, []).append(service.name)
                attrs.setdefault(mount.source, mount)
    files = []
    for rel, local in sorted(stack.compose.relative_mounts.items()):
        target = posixpath.normpath(posixpath.join(stack.dir, rel))
        mount = attrs[target]
        owner, group = mount.owner or ROOT_OWNER, mount.group or mount.owner or ROOT_OWNER
        sources = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        for source in sources:
            path = target if source == local else posixpath.join(target, source.relative_to(local).as_posix())
            mode = (mount.mode if source == local and mount.mode else "0644")
            files.append(RenderedFile(path, _team_text(source, stack), mode, owner, group,
                                      used_by=tuple(users[target])))
    return files


def _team_text(path: Any, stack: Stack) -> str:
    try:
        return path.read_text()
    except (UnicodeDecodeError, OSError) as exc:
        raise MooringError(f"{path}: mooring ships text files under a relative bind mount, this one cannot be "
                           f"read as text ({type(exc).__name__}): keep binaries in the image") from None


def render_env_file(stack: Stack) -> str:
    """The ``.env`` content: every stack env key, sorted, quoted for Compose (secret!)."""
    header = f"Managed by mooring: stack {stack.name} ({stack.environment}). Secret: mode 0600, never print it."
    return format_dotenv(stack.env_values(), header)


def cron_file_path(stack: Stack) -> str:
    """The host crontab that runs the stack's backups (cron.d names allow no dots)."""
    return f"{CRON_DIR}/mooring-{stack.name}"


def backup_metrics_path(stack: Stack) -> str:
    """The node_exporter textfile the backup job writes its metrics to (atomically).

    >>> from mooring.declare.model import build_model
    >>> backup_metrics_path(build_model("docker-1", ["sandbox"]).stack)
    '/var/lib/prometheus/node-exporter/mooring-backup-solacore.prom'
    """
    return posixpath.join(stack.backups.metrics_dir, f"mooring-backup-{stack.name}.prom")


def drill_metrics_path(stack: Stack) -> str:
    """The node_exporter textfile the restore drill writes its last result to (atomically).

    >>> from mooring.declare.model import build_model
    >>> drill_metrics_path(build_model("docker-1", ["sandbox"]).stack)
    '/var/lib/prometheus/node-exporter/mooring-backup-verify-solacore.prom'
    """
    return posixpath.join(stack.backups.metrics_dir, f"mooring-backup-verify-{stack.name}.prom")


def backup_script_path(stack: Stack) -> str:
    """Where the deploy installs the stack's nightly backup job."""
    return f"{stack.dir}/bin/backup.sh"


def restore_script_path(stack: Stack) -> str:
    """Where the deploy installs the stack's restore script."""
    return f"{stack.dir}/bin/restore.sh"


def drill_script_path(stack: Stack) -> str:
    """Where the deploy installs the stack's restore drill (``mooring backup verify`` runs it)."""
    return f"{stack.dir}/bin/drill.sh"


def _drill_context(stack: Stack) -> dict[str, str]:
    service = stack.services.get(stack.backups.service or "")
    return {"image": service.image if service else "", "label": f"{dumps.DRILL_LABEL}={stack.name}",
            "metrics_file": drill_metrics_path(stack), "script": drill_script_path(stack),
            "log_file": f"/var/log/mooring-{stack.name}-drill.log"}


#: The backup job's and the drill's cron logs are capped at this size (then moved to <log>.1).
LOG_MAX_BYTES = 10 * 1024 * 1024


def backup_log_path(stack: Stack) -> str:
    """Where the nightly backup appends its output on the host."""
    return f"/var/log/mooring-{stack.name}-backup.log"


def _context(model: HostModel, stack: Stack) -> dict[str, Any]:
    named = sorted({m.source for s in stack.services.values() for m in s.volumes if m.type == "volume"})
    return {"host": model.name, "stack": stack, "proxy": stack.proxy, "backups": stack.backups,
            "named_volumes": named, "log_file": backup_log_path(stack), "metrics_file": backup_metrics_path(stack),
            "dump": dumps.template_context(stack.backups.engine), "compose_env": CLEAN_ENV_PREFIX, "drill": _drill_context(stack), "log_max_bytes": LOG_MAX_BYTES}


def _mount_files(stack: Stack, context: dict[str, Any]) -> list[RenderedFile]:
    """Templated mount sources; one file per host path, listing every service that mounts it."""
    by_path: dict[str, tuple[Any, list[str]]] = {}
    for service in stack.services.values():
        for mount in service.volumes:
            if mount.type == "bind" and mount.template:
                entry = by_path.setdefault(mount.rendered_path, (mount, []))
                entry[1].append(service.name)
    files = []
    for path in sorted(by_path):
        mount, users = by_path[path]
        mode = mount.mode if mount.kind == "file" else "0644"
        files.append(RenderedFile(path, render_template(mount.template, **context), mode or "0644",
                                  mount.owner or ROOT_OWNER, mount.group or mount.owner or ROOT_OWNER,
                                  template=mount.template, used_by=tuple(users)))
    return files


def _backup_files(stack: Stack, context: dict[str, Any]) -> list[RenderedFile]:
    if not (stack.backups.enabled and stack.backups.service):
        return []
    return [
        RenderedFile(backup_script_path(stack), render_template("backup.sh.j2", **context), "0750", ROOT_OWNER, ROOT_OWNER,
                     template="backup.sh.j2"),
        RenderedFile(restore_script_path(stack), render_template("restore.sh.j2", **context), "0750", ROOT_OWNER, ROOT_OWNER,
                     template="restore.sh.j2"),
        RenderedFile(drill_script_path(stack), render_template("drill.sh.j2", **context), "0750", ROOT_OWNER,
                     ROOT_OWNER, template="drill.sh.j2"),
        RenderedFile(cron_file_path(stack), render_template("crontab.j2", **context), "0644", ROOT_OWNER, ROOT_OWNER,
                     template="crontab.j2"),
    ]


def _absent_files(stack: Stack, files: list[RenderedFile]) -> list[str]:
    """The backup job's files when no backup job is rendered: disabling backups removes the
    cron entry and the scripts (the dumps stay)."""
    written = {f.path for f in files}
    job = [backup_script_path(stack), restore_script_path(stack), drill_script_path(stack), cron_file_path(stack)]
    return [path for path in job if path not in written]


def _directories(stack: Stack, shipped: list[RenderedFile] = (), secret_files: list[RenderedFile] = ()) -> list[RemoteDir]:
    dirs: dict[str, RemoteDir] = {stack.dir: RemoteDir(stack.dir, ROOT_OWNER, ROOT_OWNER, "0755")}
    if stack.backups.enabled and stack.backups.service:
        dirs[f"{stack.dir}/bin"] = RemoteDir(f"{stack.dir}/bin", ROOT_OWNER, ROOT_OWNER, "0755")
        dirs[stack.backups.directory] = RemoteDir(stack.backups.directory, ROOT_OWNER, ROOT_OWNER, "0700")
    for service in stack.services.values():
        for mount in service.volumes:
            if mount.type != "bind":
                continue
            # A host folder outside the stack dir (/tmp, /var/run, ...) is the host's: it is
            # managed (created, chowned, chmodded) only when the mount declares owner AND mode.
            declared = bool(mount.owner and mount.mode)
            if mount.kind == "dir" and (declared or (_in_stack_dir(mount.source, stack)
                                                     and (mount.template or mount.owner or not mount.read_only))):
                dirs.setdefault(mount.source, RemoteDir(mount.source, mount.owner or ROOT_OWNER,
                                                        mount.group or mount.owner or ROOT_OWNER, mount.mode or "0755"))
            elif mount.kind == "file" and mount.template:
                parent = posixpath.dirname(mount.source)
                if _in_stack_dir(parent, stack):
                    dirs.setdefault(parent, RemoteDir(parent, ROOT_OWNER, ROOT_OWNER, "0755"))
    for file in secret_files:
        parent = posixpath.dirname(file.path)
        if _in_stack_dir(parent, stack):
            dirs[parent] = RemoteDir(parent, ROOT_OWNER, ROOT_OWNER, "0700")
    for file in shipped:  # subfolders of a shipped folder
        parent = posixpath.dirname(file.path)
        while _in_stack_dir(parent, stack) and parent not in dirs:
            dirs[parent] = RemoteDir(parent, file.owner, file.group, "0755")
            parent = posixpath.dirname(parent)
    return [dirs[path] for path in sorted(dirs)]


def _in_stack_dir(path: str, stack: Stack) -> bool:
    """True for a path strictly inside the stack folder."""
    return posixpath.normpath(path).startswith(stack.dir.rstrip("/") + "/")


def _dotenv_inner(value: str) -> str:
    """``value`` inside a double-quoted dotenv value (the escapes of
    :func:`mooring.declare.secrets.quote_env_value`)."""
    escapes = {"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return "".join(escapes.get(char, char) for char in value)


#: How a template or the dotenv writer may write a value, by the one-letter code a masked file
#: records (raw; JSON/YAML double-quoted; compose-escaped; both; a shell word; inside a
#: single-quoted shell word; inside a double-quoted dotenv value).
_FORMS: dict[str, Any] = {
    "r": lambda v: v,
    "j": lambda v: json.dumps(v)[1:-1],
    "c": lambda v: v.replace("$", "$$"),
    "k": lambda v: json.dumps(v.replace("$", "$$"))[1:-1],
    "s": shlex.quote,
    "q": lambda v: v.replace("'", "'\"'\"'"),
    "d": _dotenv_inner,
}


def _written_forms(value: str) -> set[str]:
    """How a value may appear in a rendered file: raw, JSON/YAML-escaped, compose-escaped,
    shell-quoted, dotenv-escaped.

    >>> sorted(_written_forms("a$b c"))
    ["'a$b c'", 'a$$b c', 'a$b c', 'a\\\\$b c']
    """
    return {form(value) for form in _FORMS.values()}


def _mark_secret(rendered: RenderedFile, secrets: list[str]) -> RenderedFile:
    """A file that happens to contain a secret value is secret too (never diffed or logged).

    >>> conf = RenderedFile("/srv/mooring/solacore/app.conf", "password = 'S3cret$Value'", "0644", "root", "root")
    >>> _mark_secret(conf, ["S3cret$Value"]).secret, _mark_secret(conf, ["Another7Value"]).secret
    (True, False)
    """
    if rendered.secret or not any(form in rendered.content for value in secrets for form in _written_forms(value)):
        return rendered
    return replace(rendered, secret=True)


# --- secret files as releases keep them: masked -------------------------------------------

#: Every placeholder starts with this; a literal occurrence in a file is kept as ``@@mooring-literal@@``.
MASK_MARK = "@@mooring-"
_LITERAL = f"{MASK_MARK}literal@@"
_TOKEN = re.compile(r"@@mooring-(?:literal|secret:([^@]*))@@")
_ALL_FORMS = "".join(sorted(_FORMS))


class SecretMaskError(MooringRunError):
    """A secret file cannot be kept masked, or a masked one cannot be restored. The message names
    the file and the secret, never a value."""


@dataclass(frozen=True)
class MaskedFile:
    """A secret file as a release keeps it: every written form of every secret value replaced by a
    placeholder naming the secret (``@@mooring-secret:POSTGRES_PASSWORD@@``). It holds no secret;
    :meth:`restored` fills in the values declared now. ``dotenv``: the ``.env`` (values are masked
    as read back and quoted again on restore, as mooring writes them)."""

    path: str
    content: str = field(repr=False)
    mode: str
    owner: str
    group: str
    dotenv: bool = False

    def restored(self, secrets: dict[str, str], release: str = "") -> str:
        """The file with ``secrets`` (name → value) in place of its placeholders; raises
        :class:`SecretMaskError` naming a secret that ``secrets`` lacks.

        >>> MaskedFile("/s/.env", "A=@@mooring-secret:A@@\\n", "0600", "root", "root", True).restored({"A": "x y"})
        "A='x y'\\n"
        """
        return unmask_secrets(self.content, secrets, self.dotenv, f"{release}: {self.path}" if release else self.path)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "content": self.content, "mode": self.mode, "owner": self.owner,
                "group": self.group, "dotenv": self.dotenv}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MaskedFile:
        return cls(str(data["path"]), str(data["content"]), str(data["mode"]), str(data["owner"]),
                   str(data["group"]), bool(data.get("dotenv", False)))


def declared_secrets(stack: Stack) -> dict[str, str]:
    """Secret name → resolved value, for every ``{secret: NAME}`` the stack declares (never print it)."""
    return {var.secret_name: var.value for var in stack.env.values() if var.secret_name}


def masked_files(rendered: RenderedStack, stack: Stack) -> list[MaskedFile]:
    """The rendered secret files, masked, for a release to keep. Raises :class:`SecretMaskError`
    when a secret value would stay readable or the masked copy would not restore to the same bytes.

    >>> from mooring.declare.model import build_model
    >>> model = build_model("docker-1", ["sandbox"])
    >>> [(m.path, m.dotenv) for m in masked_files(render_stack(model), model.stack)]
    [('/srv/mooring/solacore/.env', True)]
    """
    secrets, values = declared_secrets(stack), stack.secret_values()
    kept = []
    for item in rendered.files:
        if not item.secret:
            continue
        dotenv = item.path == stack.env_file
        masked = mask_secrets(item.content, secrets, dotenv)
        bare = _TOKEN.sub("\0", masked)
        if any(form in bare for value in values for form in _written_forms(value)):
            raise SecretMaskError(f"{item.path}: a secret value is written in a form mooring cannot mask, so no "
                                  "release could keep this file without it: write the secret with a template "
                                  "filter (yq, cs, sh) or as a plain value")
        if unmask_secrets(masked, secrets, dotenv, item.path) != item.content:
            raise SecretMaskError(f"{item.path}: its masked copy would not restore to the same bytes (a secret value "
                                  "overlaps a mooring placeholder): change that secret value")
        kept.append(MaskedFile(item.path, masked, item.mode, item.owner, item.group, dotenv))
    return kept


def mask_secrets(content: str, secrets: dict[str, str], dotenv: bool = False) -> str:
    """``content`` with every written form of every secret value replaced by a placeholder naming
    the secret. A placeholder also names the forms the text may be (``/jd``, ``/*`` for any) when
    it is not the raw value, so a restore writes a new value the same way, or refuses when the
    forms tell different stories. ``dotenv``: a ``.env`` written by ``format_dotenv``: each value
    is masked as read back and written again quoted (its placeholders raw).

    >>> mask_secrets("url=postgres://app:Zk3v$Q9@db", {"PG": "Zk3v$Q9"})
    'url=postgres://app:@@mooring-secret:PG/jqr@@@db'
    >>> mask_secrets("PG_URL='x:Zk3v Q9@db'\\n", {"PG": "Zk3v Q9"}, dotenv=True)
    'PG_URL=x:@@mooring-secret:PG@@@db\\n'
    """
    if not dotenv:
        return _mask_text(content, secrets, _ALL_FORMS)
    lines = []
    for line in content.split("\n"):
        entry = _dotenv_entry(line)
        if entry is None:
            lines.append(_mask_text(line, secrets, _ALL_FORMS))
            continue
        key, value = entry
        masked = _mask_text(value, secrets, "r")
        lines.append(line if masked == value else f"{key}={quote_env_value(masked)}")
    return "\n".join(lines)


def unmask_secrets(masked: str, secrets: dict[str, str], dotenv: bool = False, where: str = "") -> str:
    """The inverse of :func:`mask_secrets` with the values in ``secrets`` (name → value).

    Raises :class:`SecretMaskError` naming (with ``where``) every secret a placeholder names that
    ``secrets`` lacks, or a secret whose new value would have to be written in one of several ways.

    >>> unmask_secrets("url=postgres://app:@@mooring-secret:PG/*@@@db", {"PG": "n3w"})
    'url=postgres://app:n3w@db'
    >>> unmask_secrets("x=@@mooring-secret:OLD@@", {}, where="release 0003-ab: /s/app.conf")
    Traceback (most recent call last):
    mooring.declare.render.SecretMaskError: release 0003-ab: /s/app.conf names secret OLD, which the stack no longer declares: declare it again (stack.env KEY: {secret: OLD}) and provide its value to restore this file
    """
    missing = sorted({cand.partition("/")[0] for found in _TOKEN.finditer(masked) if found.group(1) is not None
                      for cand in found.group(1).split(",")} - set(secrets))
    if missing:
        names = ", ".join(missing)
        raise SecretMaskError(f"{where or 'a masked file'} names secret{'s' if len(missing) > 1 else ''} {names}, "
                              f"which the stack no longer declares: declare {'them' if len(missing) > 1 else 'it'} "
                              f"again (stack.env KEY: {{secret: {missing[0]}}}) and provide "
                              f"{'their values' if len(missing) > 1 else 'its value'} to restore this file")
    if not dotenv:
        return _unmask_text(masked, secrets, where)
    lines = []
    for line in masked.split("\n"):
        entry = _dotenv_entry(line) if MASK_MARK in line else None
        if entry is None:
            lines.append(_unmask_text(line, secrets, where))
        else:
            lines.append(f"{entry[0]}={quote_env_value(_unmask_text(entry[1], secrets, where))}")
    return "\n".join(lines)


def _mask_text(text: str, secrets: dict[str, str], forms: str) -> str:
    """One left-to-right pass: the longest written form (or literal mark) at each place wins."""
    found: dict[str, dict[str, set[str]]] = {}  # written text -> secret name -> form codes
    for name, value in secrets.items():
        for code in forms:
            written = _FORMS[code](value)
            if written:
                found.setdefault(written, {}).setdefault(name, set()).add(code)
    tokens = {written: _placeholder(by_name) for written, by_name in found.items()}
    tokens.setdefault(MASK_MARK, _LITERAL)
    pattern = re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))
    return pattern.sub(lambda match: tokens[match.group(0)], text)


def _placeholder(by_name: dict[str, set[str]]) -> str:
    parts = []
    for name, codes in sorted(by_name.items()):
        spelled = "".join(sorted(codes))
        parts.append(name if spelled == "r" else f"{name}/{'*' if spelled == _ALL_FORMS else spelled}")
    return f"{MASK_MARK}secret:{','.join(parts)}@@"


def _unmask_text(text: str, secrets: dict[str, str], where: str) -> str:
    def fill(match: re.Match) -> str:
        if match.group(1) is None:
            return MASK_MARK
        written = set()
        for part in match.group(1).split(","):
            name, _, codes = part.partition("/")
            codes = _ALL_FORMS if codes == "*" else (codes or "r")
            if not set(codes) <= set(_FORMS):
                raise SecretMaskError(f"{where}: unreadable placeholder for secret {name} (forms {codes!r})")
            written.update(_FORMS[code](secrets[name]) for code in codes)
        if len(written) != 1:
            names = match.group(1).split("/")[0]
            raise SecretMaskError(f"{where}: cannot tell how the kept release wrote secret {names}, and its value "
                                  "now would be written differently in each way: deploy the declared state instead")
        return written.pop()
    return _TOKEN.sub(fill, text)


def _dotenv_entry(line: str) -> tuple[str, str] | None:
    """(KEY, value as read back) of one dotenv line, or None for a comment, a blank or unreadable line."""
    try:
        parsed = parse_dotenv(line)
    except ValueError:
        return None
    return next(iter(parsed.items()), None)  # one line holds one entry at most
