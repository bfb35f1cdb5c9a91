"""The rule registry: rules register under a name, :func:`run_rules` runs them for one host.

The registry is strict: a name registered twice is refused, an unknown name asked for is an
error, and ``tests/test_static.py`` lists what is registered. A rule returns only its problems
(FAILED or WARNING); :func:`run_rules` adds one PASSED finding per rule that found nothing, and
SKIPPED ones (with why) when a precondition failed, e.g. no rendered files to check. The rules
themselves live per family in :mod:`mooring.checks.rules` and register when that package is imported.

Messages never contain a secret's value: rules read ``EnvVar.masked`` (secrets as ``***``)
and tool output goes through :func:`mooring.declare.secrets.redact`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from mooring.checks.findings import Finding, Outcome
from mooring.declare.model import HostModel, Stack

if TYPE_CHECKING:
    from mooring.declare.render import RenderedStack


PRODUCTION = "production"


@dataclass
class RuleContext:
    """What a rule looks at: the host model, its stack and (for render rules) the rendered files."""

    model: HostModel
    stack: Stack | None
    rendered: RenderedStack | None = None

    @property
    def production(self) -> bool:
        """True for the production environment (gates apply)."""
        return self.model.environment == PRODUCTION

    def finding(self, check: str, outcome: Outcome, path: str, message: str, fix: str = "", file: str = "") -> Finding:
        """A finding about this host; ``file`` defaults to the layer that declared ``path``."""
        return Finding(check, outcome, self.model.name, path, message, fix,
                       file or (self.model.merged.file_of(path) if path else ""))


RuleFunc = Callable[[RuleContext, str], list[Finding]]


@dataclass(frozen=True)
class Rule:
    """A registered rule: ``needs`` is "stack" (skip hosts without one) or "render" (needs rendered files)."""

    name: str
    func: RuleFunc
    needs: str
    doc: str


RULES: dict[str, Rule] = {}


def load_rules() -> dict[str, Rule]:
    """Import every rule family (they register on import) and return the registry."""
    import mooring.checks.rules  # noqa: F401

    return RULES


def rule(name: str, needs: str = "stack") -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule under ``name``; a second registration of a name is refused."""
    if needs not in ("stack", "render"):
        raise ValueError(f"rule {name!r}: needs must be 'stack' or 'render', not {needs!r}")

    def register(func: RuleFunc) -> RuleFunc:
        if name in RULES:
            raise ValueError(f"rule {name!r} is already registered")
        RULES[name] = Rule(name, func, needs, (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else "")
        return func
    return register


def get_rule(name: str) -> Rule:
    """The rule registered as ``name``; an unknown name is a ``KeyError`` listing the known ones.

    >>> get_rule("ports.unique").needs
    'stack'
    """
    try:
        return load_rules()[name]
    except KeyError:
        raise KeyError(f"unknown rule {name!r}; registered: {', '.join(sorted(RULES))}") from None


def registered_rules() -> list[str]:
    """Every registered rule name, sorted."""
    return sorted(load_rules())


def run_rules(model: HostModel, stack: Stack | None, rendered: RenderedStack | None = None, render_problem: str = "",
              names: Iterable[str] | None = None) -> list[Finding]:
    """Run rules (all, or ``names``) for one host; returns their findings, PASSED/SKIPPED included.

    >>> run_rules(model, model.stack, render_stack(model))  # doctest: +SKIP
    [Finding(check='backups.databases', outcome=<Outcome.PASSED: 'passed'>, ...), ...]
    """
    if stack is None:
        return []
    context = RuleContext(model, stack, rendered)
    findings: list[Finding] = []
    for name in (sorted(load_rules()) if names is None else list(names)):
        spec = get_rule(name)
        if spec.needs == "render" and rendered is None:
            findings.append(context.finding(name, Outcome.SKIPPED, "", f"not run: {render_problem or 'nothing rendered'}"))
            continue
        findings.extend(_run_one(spec, context))
    return findings


def _run_one(spec: Rule, context: RuleContext) -> list[Finding]:
    try:
        found = spec.func(context, spec.name)
    except Exception as exc:  # a bug in a rule must not hide the other rules' findings
        where = exc.__traceback__
        while where and where.tb_next:
            where = where.tb_next
        line = f" at {Path(where.tb_frame.f_code.co_filename).name}:{where.tb_lineno}" if where else ""
        # The exception text could quote a value: only its type and place are reported.
        return [context.finding(spec.name, Outcome.FAILED, "", f"internal error in rule: {type(exc).__name__}{line}",
                                "report this as a mooring bug")]
    if not found:
        return [context.finding(spec.name, Outcome.PASSED, "", "ok")]
    return found
