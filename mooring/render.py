"""Render a host's stack into the files and folders its host needs (deterministic: same model,
same bytes, so a second deploy changes nothing).

Templates live in ``templates/`` (Jinja2, StrictUndefined): ``compose.yml.j2``,
``nginx/default.conf.j2``, ``prometheus/prometheus.yml.j2``, ``backup.sh.j2``,
``restore.sh.j2``, ``crontab.j2``. The ``.env`` file is written in Python
(:func:`mooring.secrets.format_dotenv`) so that Compose reads back exactly the declared values.
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field, replace
from typing import Any

import jinja2

from mooring.errors import MooringError
from mooring.model import HostModel, Stack
from mooring.paths import TEMPLATES
from mooring.secrets import format_dotenv

ROOT_OWNER = "root"
CRON_DIR = "/etc/cron.d"
_COMPOSE_DOLLAR = re.compile(r"\$\$\{|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$")


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
    """Everything a deploy writes for one stack: folders first (parents before children), then files."""

    directories: list[RemoteDir]
    files: list[RenderedFile]

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
    """Escape ``$`` for compose interpolation, keeping ``${KEY}`` (a stack env reference, filled
    from .env) and ``$${`` (a literal ``${``).

    >>> compose_escape("pg_isready -d ${POSTGRES_DB} && echo $HOME costs $5")
    'pg_isready -d ${POSTGRES_DB} && echo $$HOME costs $$5'
    """
    def repl(match: re.Match) -> str:
        text = match.group(0)
        return "$$" if text == "$" else text
    return _COMPOSE_DOLLAR.sub(repl, str(value))


def shell_quote(value: Any) -> str:
    """A POSIX shell word.

    >>> shell_quote("/srv/mooring/solacore"), shell_quote("a b")
    ('/srv/mooring/solacore', "'a b'")
    """
    return shlex.quote(str(value))


@functools.lru_cache(maxsize=1)
def jinja_env() -> jinja2.Environment:
    """The template environment: StrictUndefined, blocks trimmed, trailing newlines kept."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
        autoescape=False, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(yq=yaml_quote, cs=compose_escape, sh=shell_quote)
    return env


def render_template(name: str, **context: Any) -> str:
    """Render ``templates/<name>``; a missing variable or template is a :class:`RenderError`.

    >>> render_template("crontab.j2")
    Traceback (most recent call last):
    mooring.render.RenderError: templates/crontab.j2: 'stack' is undefined
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

    >>> from mooring.model import build_model
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
    files = [
        RenderedFile(stack.compose_file, render_template("compose.yml.j2", **context), "0644", ROOT_OWNER, ROOT_OWNER,
                     template="compose.yml.j2"),
        RenderedFile(stack.env_file, render_env_file(stack), "0600", ROOT_OWNER, ROOT_OWNER, secret=True),
        *_mount_files(stack, context),
        *_backup_files(stack, context),
    ]
    secrets = stack.secret_values()
    files = [_mark_secret(f, secrets) for f in files]
    return RenderedStack(_directories(stack), files)


def render_env_file(stack: Stack) -> str:
    """The ``.env`` content: every stack env key, sorted, quoted for Compose (secret!)."""
    header = f"Managed by mooring: stack {stack.name} ({stack.environment}). Secret: mode 0600, never print it."
    return format_dotenv(stack.env_values(), header)


def cron_file_path(stack: Stack) -> str:
    """The host crontab that runs the stack's backups (cron.d names allow no dots)."""
    return f"{CRON_DIR}/mooring-{stack.name}"


def backup_log_path(stack: Stack) -> str:
    """Where the nightly backup appends its output on the host."""
    return f"/var/log/mooring-{stack.name}-backup.log"


def _context(model: HostModel, stack: Stack) -> dict[str, Any]:
    named = sorted({m.source for s in stack.services.values() for m in s.volumes if m.type == "volume"})
    return {"host": model.name, "stack": stack, "proxy": stack.proxy, "backups": stack.backups,
            "named_volumes": named, "log_file": backup_log_path(stack)}


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
    bin_dir = f"{stack.dir}/bin"
    return [
        RenderedFile(f"{bin_dir}/backup.sh", render_template("backup.sh.j2", **context), "0750", ROOT_OWNER, ROOT_OWNER,
                     template="backup.sh.j2"),
        RenderedFile(f"{bin_dir}/restore.sh", render_template("restore.sh.j2", **context), "0750", ROOT_OWNER, ROOT_OWNER,
                     template="restore.sh.j2"),
        RenderedFile(cron_file_path(stack), render_template("crontab.j2", **context), "0644", ROOT_OWNER, ROOT_OWNER,
                     template="crontab.j2"),
    ]


def _directories(stack: Stack) -> list[RemoteDir]:
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
    return [dirs[path] for path in sorted(dirs)]


def _in_stack_dir(path: str, stack: Stack) -> bool:
    """True for a path strictly inside the stack folder."""
    return posixpath.normpath(path).startswith(stack.dir.rstrip("/") + "/")


def _written_forms(value: str) -> set[str]:
    """How a value may appear in a rendered file: raw, JSON/YAML-escaped, compose-escaped, shell-quoted.

    >>> sorted(_written_forms("a$b c"))
    ["'a$b c'", 'a$$b c', 'a$b c']
    """
    import json
    import shlex

    compose = value.replace("$", "$$")
    return {value, json.dumps(value)[1:-1], compose, json.dumps(compose)[1:-1], shlex.quote(value)} - {""}


def _mark_secret(rendered: RenderedFile, secrets: list[str]) -> RenderedFile:
    """A file that happens to contain a secret value is secret too (never diffed or logged).

    >>> conf = RenderedFile("/srv/mooring/solacore/app.conf", "password = 'S3cret$Value'", "0644", "root", "root")
    >>> _mark_secret(conf, ["S3cret$Value"]).secret, _mark_secret(conf, ["Another7Value"]).secret
    (True, False)
    """
    if rendered.secret or not any(form in rendered.content for value in secrets for form in _written_forms(value)):
        return rendered
    return replace(rendered, secret=True)
