"""Findings: what every check returns. Formatters render them; :func:`exit_code` turns them
into a command's exit code, once, for every command.

One shape serves every kind of check: static rules over the declared state (``kind="static"``),
live rules over a host snapshot (``"live"``), HTTP probes (``"probe"``), drift between the
declared and the real state (``"drift"``) and deploy outcomes (``"deploy"``).

No field ever holds a secret's value: ``message``, ``expected`` and ``actual`` describe
(``"key present, empty"``, ``"mode 0600"``, ``"sha256 3f2a…"`` of a non-secret file), they
never quote an env value. The output layer still redacts every string it writes.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any, Iterable


class Outcome(str, enum.Enum):
    """The one outcome of a check.

    ``ERROR`` means the check could not be made (host unreachable, a read failed); it is
    neither a pass nor a failure of the thing checked, and it wins over drift in exit codes.
    """

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"
    ERROR = "error"


class Kind(str, enum.Enum):
    """What a finding was checked against."""

    STATIC = "static"  # the declared state, before any host is touched
    LIVE = "live"  # a host's real state (snapshot)
    PROBE = "probe"  # an HTTP answer
    DRIFT = "drift"  # declared vs real: FAILED means the resource moved
    DEPLOY = "deploy"  # a deploy step's outcome (converge, gate, rollback)


#: Worst first: how outcomes sort and which one a group of findings takes.
SEVERITY = (Outcome.ERROR, Outcome.FAILED, Outcome.WARNING, Outcome.SKIPPED, Outcome.PASSED)

EXIT_OK = 0
EXIT_FAILED = 1  # validate/check: something failed; drift: an error (host unreachable, read failed)
EXIT_DRIFT = 2


@dataclass(frozen=True)
class Finding:
    """One check's result about one subject (a host or a group), at one declared key path.

    + check: the rule or probe name, e.g. ``env.required``
    + outcome: :class:`Outcome`
    + subject: the host, ``group:<name>`` or the file the finding is about
    + path: the declared key path (``stack.env.POSTGRES_DB``), "" when none
    + message, fix: what is wrong and what to do (never a secret's value)
    + file: the declared file ``path`` comes from
    + host: the host checked (live, probe, drift, deploy findings); None for declared-only ones
    + kind: :class:`Kind` (a plain string is accepted)
    + resource: what on the host, as ``type:name``: ``file:/srv/app/.env``, ``env:POSTGRES_DB``,
      ``service:api``, ``cron:/etc/cron.d/mooring-app``, ``http:ready``
    + expected, actual: short descriptions of the declared and the found state, never a
      secret's value (a key's presence or emptiness, a mode, an owner, a digest of a public file)

    >>> Finding("env.required", Outcome.FAILED, "docker-1", message="key missing", host="docker-1",
    ...         kind="live", resource="env:POSTGRES_DB").kind
    <Kind.LIVE: 'live'>
    """

    check: str
    outcome: Outcome
    subject: str
    path: str = ""
    message: str = ""
    fix: str = ""
    file: str = ""
    host: str | None = None
    kind: Kind = Kind.STATIC
    resource: str = ""
    expected: str = ""
    actual: str = ""

    def __post_init__(self) -> None:
        # Enum-like arguments are checked when called: a typo is an error, not a new kind.
        object.__setattr__(self, "outcome", Outcome(self.outcome))
        object.__setattr__(self, "kind", Kind(self.kind))

    @property
    def scope(self) -> str:
        """Whom the finding is about: its host, else its subject (a group or a file)."""
        return self.host or self.subject

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``--json``): every field, enums as their values."""
        data = asdict(self)
        data["outcome"], data["kind"] = self.outcome.value, self.kind.value
        return data

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.resource, self.file, self.path) if part)
        text = f"[{self.outcome.value}] {self.subject}: {self.check}: {where + ': ' if where else ''}{self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text


def failed(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that make a run fail."""
    return [f for f in findings if f.outcome is Outcome.FAILED]


def worst(outcomes: Iterable[Outcome]) -> Outcome:
    """The most severe of ``outcomes`` (PASSED when there are none).

    >>> worst([Outcome.PASSED, Outcome.WARNING, Outcome.SKIPPED]).value
    'warning'
    """
    found = set(outcomes)
    return next((o for o in SEVERITY if o in found), Outcome.PASSED)


def exit_code(findings: Iterable[Finding], *, drift: bool = False, errors: Iterable[Any] = ()) -> int:
    """The exit code of a run: the one place findings become a process's answer.

    validate, check (``drift=False``): 0 when nothing FAILED and nothing was an ERROR, else 1.
    drift (``drift=True``): 1 on any error (a host error in ``errors``, an ERROR finding: an
    unreachable host or a failed read), else 2 when anything FAILED (drifted), else 0.
    Warnings and skipped checks never change the code.

    + findings: every finding of the run
    + drift: use drift's codes (0 none, 2 drift, 1 error)
    + errors: the hosts that could not be checked (any collection; only its size counts)

    >>> ok = Finding("env.required", Outcome.PASSED, "docker-1")
    >>> moved = Finding("drift.file", Outcome.FAILED, "docker-1", kind="drift")
    >>> exit_code([ok]), exit_code([ok, moved]), exit_code([moved], drift=True), exit_code([moved], drift=True, errors=["docker-2"])
    (0, 1, 2, 1)
    """
    outcomes = {f.outcome for f in findings}
    errored = Outcome.ERROR in outcomes or bool(list(errors))
    if drift:
        return EXIT_FAILED if errored else EXIT_DRIFT if Outcome.FAILED in outcomes else EXIT_OK
    return EXIT_FAILED if errored or Outcome.FAILED in outcomes else EXIT_OK
