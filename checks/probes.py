"""HTTP probes: the deploy health gate and the HTTP checks of ``mooring check``.

Every probe asks through a fetch function, ``Fetch = Callable[[url, timeout], Answer]``, so the
same rules run wherever the probes run (the stack's ``probes_from``):

- ``controller`` (default): :func:`controller_fetch`, httpx on the machine running mooring,
  against the host's ``http_base`` (:func:`probe_base`);
- ``host``: :class:`HostFetch`, on the host itself over the SSH connection, against its own
  addresses (``http://127.0.0.1:<port>``): one remote command (curl, else python3) per batch
  of probes. It takes a "run command" callable (:func:`pyinfra_runner` makes one from a
  connected pyinfra host), so deploy files and the command line pass their own hosts.

The gate (:func:`run_gate`) polls a host's health probes until they pass or their retries run
out; :func:`http_checks` returns :class:`mooring.checks.findings.Finding` s: health, the declared smoke
list, the error rate of ``/internal/metrics``, dev/ops endpoints that are off, ``/auth/me``.
One attempt passes when it answers ``expected_status``, its body contains ``contains`` (when
declared) and it answered within ``max_latency_ms`` (when declared). See docs/probes.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import shlex
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx

from mooring.checks.findings import Finding, Kind, Outcome
from mooring.declare.model import EndpointGate, Probe, Stack

BODY_EXCERPT = 300
#: The most of a body a probe reads (``contains`` looks at this much).
MAX_BODY = 256 * 1024
#: Where probes run (``stack.probes_from``).
CONTROLLER, HOST = "controller", "host"
#: httpErrorRate of /internal/metrics: above WARN warns, above FAIL fails (seed 000: <= 0.05
#: is the running target, > 0.10 sustained is a rollback trigger).
METRICS_PATH = "/internal/metrics"
ERROR_RATE_WARN = 0.05
ERROR_RATE_FAIL = 0.10
#: A removed route that must answer 410 (seed 000: /auth/me -> 410 ROUTE_REMOVED, use /users/me).
REMOVED_ROUTE, REMOVED_STATUS = "/auth/me", 410
#: What a dev/ops endpoint that is off may answer (seed 002: "403 or 404").
CLOSED_STATUSES = (403, 404)
#: Seconds a check-time request of a fixed route (metrics, endpoints, /auth/me) may take.
CHECK_TIMEOUT = 5.0


@dataclass(frozen=True)
class Answer:
    """One GET's outcome: ``status`` None when no HTTP answer came (``error`` says why).

    ``unchecked`` is True when the probe could not be made at all (no curl or python3 on the
    host, the SSH command failed): that is not the web server's fault.
    """

    status: int | None
    text: str = ""
    elapsed_ms: int = 0
    error: str = ""
    unchecked: bool = False


#: GET ``url`` within ``timeout`` seconds, without following redirects.
Fetch = Callable[[str, float], Answer]
#: Run a shell command on a host within ``timeout`` seconds: (succeeded, stdout, stderr).
RunCommand = Callable[[str, float], tuple[bool, str, str]]


@dataclass
class ProbeResult:
    """The last answer (or error) of one probe, after its retries.

    ``error`` says why the last attempt failed: a connection error, or what the answer lacked.

    >>> ProbeResult("ready", "http://127.0.0.1:8080/ready", ok=True, attempts=2, status=200).describe()
    'ready http://127.0.0.1:8080/ready: 200 after 2 attempt(s)'
    >>> ProbeResult("ready", "http://127.0.0.1:8080/ready", ok=False, attempts=1, status=200, body="starting",
    ...             error="body does not contain 'ok'").describe()
    "ready http://127.0.0.1:8080/ready: FAILED after 1 attempt(s): body does not contain 'ok'; body 'starting'"
    """

    name: str
    url: str
    ok: bool
    attempts: int
    status: int | None = None
    body: str = ""
    error: str = ""
    elapsed_ms: int = 0
    unchecked: bool = False  # the probe could not be made (no tool on the host, the command failed)

    def describe(self) -> str:
        """One line for people: the status on success, else what was wrong with the last attempt."""
        if self.ok:
            return f"{self.name} {self.url}: {self.status} after {self.attempts} attempt(s)"
        if self.status is None:
            got = self.error
        else:
            got = f"{self.error or f'status {self.status}'}; body {self.body!r}"
        return f"{self.name} {self.url}: FAILED after {self.attempts} attempt(s): {got}"

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (release records, ``--json``)."""
        return asdict(self)


def answer_problem(status: int, text: str, elapsed_ms: int, expected_status: int = 200, contains: str | None = None,
                   max_latency_ms: int | None = None) -> str:
    """Why one HTTP answer does not pass a probe; "" when it passes.

    + status, text, elapsed_ms: the answer's status code, body and how long it took
    + expected_status: the status it must have
    + contains: text the body must contain (None: any body)
    + max_latency_ms: the slowest acceptable answer, in milliseconds (None: no limit)

    >>> answer_problem(200, '{"status": "ready"}', 12, contains="ready", max_latency_ms=500)
    ''
    >>> answer_problem(503, "", 12)
    'status 503, expected 200'
    >>> answer_problem(200, "starting", 12, contains="ready")
    "body does not contain 'ready'"
    >>> answer_problem(200, "ready", 1500, max_latency_ms=1000)
    'answered in 1500 ms, over max_latency_ms 1000'
    """
    if status != expected_status:
        return f"status {status}, expected {expected_status}"
    if contains is not None and contains not in text:
        return f"body does not contain {contains!r}"
    if max_latency_ms is not None and elapsed_ms > max_latency_ms:
        return f"answered in {elapsed_ms} ms, over max_latency_ms {max_latency_ms}"
    return ""


# --- fetching: from the controller, or from the host over SSH ---------------------------------

_CLIENT: httpx.Client | None = None
_CLIENT_LOCK = threading.Lock()


def _client() -> httpx.Client:
    """One client for every controller probe (its connection pool keeps TLS setup out of latencies)."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            _CLIENT = httpx.Client(follow_redirects=False)
        return _CLIENT


def controller_fetch(url: str, timeout: float) -> Answer:
    """GET ``url`` from the controller with httpx (redirects are not followed).

    Nothing listens on port 9 of 127.0.0.1 here:

    >>> answer = controller_fetch("http://127.0.0.1:9/api/v1/health/live", 1.0)
    >>> answer.status, answer.error.startswith("ConnectError")
    (None, True)
    """
    started = time.monotonic()
    try:
        with _client().stream("GET", url, timeout=timeout) as response:
            body = _read_capped(response, started + timeout)
    except httpx.HTTPError as exc:
        return Answer(None, "", int((time.monotonic() - started) * 1000), f"{type(exc).__name__}: {exc}")
    return Answer(response.status_code, body, int((time.monotonic() - started) * 1000))


def _read_capped(response: httpx.Response, deadline: float) -> str:
    """The first MAX_BODY bytes of ``response``'s body, decoded (as curl's ``--max-time`` on the host:
    an endless body is cut, a body still trickling at ``deadline`` is a ``ReadTimeout``)."""
    data = bytearray()
    for chunk in response.iter_bytes():
        if data and time.monotonic() > deadline:
            raise httpx.ReadTimeout("the body was not complete within the probe's timeout", request=response.request)
        data += chunk
        if len(data) >= MAX_BODY:
            break
    return bytes(data[:MAX_BODY]).decode(response.encoding or "utf-8", errors="replace")


#: What the host-side command prints per request: ``mooring-probe RC STATUS SECONDS BODY ERR``
#: (BODY and ERR base64, "-" when empty).
_LINE = "mooring-probe"
_NO_TOOL = "mooring-probe-no-tool"
#: python3's GET for hosts without curl: status and seconds on stdout, the body into a file.
_PY_GET = f"""
import sys, time, urllib.error, urllib.request
class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
url, timeout, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}), Stay)
started = time.monotonic()
try:
    answer = opener.open(url, timeout=timeout)
    status, body = answer.status, answer.read({MAX_BODY})
except urllib.error.HTTPError as exc:
    status, body = exc.code, exc.read({MAX_BODY})
except Exception as exc:
    sys.stderr.write(type(exc).__name__ + ": " + str(exc))
    sys.exit(7)
with open(out, "wb") as fh:
    fh.write(body)
print(status, "%.6f" % (time.monotonic() - started))
"""
_GETTERS = {
    "curl": """w=$(curl -sS -g --noproxy '*' -o "$t" -w '%{http_code} %{time_total}' --max-time "$2" --url "$1" 2>"$e")""",
    "python3": """w=$(python3 -c "$py" "$1" "$2" "$t" 2>"$e")""",
}


def host_fetch_script(requests: Sequence[tuple[str, float]], tools: Sequence[str] = ("curl", "python3")) -> str:
    """The POSIX sh script that GETs every ``(url, timeout)`` on the host, in order, with the first
    of ``tools`` the host has, and prints one ``mooring-probe`` line per request.

    >>> print(host_fetch_script([("http://127.0.0.1:80/live", 5.0)], tools=["curl"]).splitlines()[-1])
    get http://127.0.0.1:80/live 5.0
    """
    unknown = [tool for tool in tools if tool not in _GETTERS]
    if unknown or not tools:
        raise ValueError(f"unknown probe tools {unknown or list(tools)}: use some of {', '.join(_GETTERS)}")
    pick = "\n".join(f'{"if" if i == 0 else "elif"} command -v {tool} >/dev/null 2>&1; then tool={tool}'
                     for i, tool in enumerate(tools))
    run = "\n".join(f'    {"if" if i == 0 else "elif"} [ "$tool" = {tool} ]; then\n        {_GETTERS[tool]}'
                    for i, tool in enumerate(tools))
    lines = [
        "set -u",
        f"py={shlex.quote(_PY_GET)}",
        pick,
        f"else echo {_NO_TOOL} {' '.join(tools)}; exit 0; fi",
        't=$(mktemp) && e=$(mktemp) || exit 3',
        "trap 'rm -f \"$t\" \"$e\"' EXIT",
        'b64() { x=$(head -c "$1" | base64 | tr -d \'\\n\'); printf \'%s\' "${x:--}"; }',
        "get() {",
        '    : >"$t"; : >"$e"',
        run,
        "    fi",
        "    rc=$?",
        f'    printf \'{_LINE} %s %s %s %s\\n\' "$rc" "${{w:-000 0}}" "$(b64 {MAX_BODY} <"$t")" "$(b64 2000 <"$e")"',
        "}",
    ]
    lines += [f"get {shlex.quote(url)} {float(timeout)}" for url, timeout in requests]
    return "\n".join(lines)


def parse_host_answers(stdout: str, stderr: str, count: int) -> list[Answer]:
    """The ``count`` answers in the output of :func:`host_fetch_script`. A request without its
    line (the command failed, the connection dropped) or with a line that does not parse gets
    an ``unchecked`` answer saying so, never an exception.

    >>> ok = base64.b64encode(b'{"status": "live"}').decode()
    >>> [a.status for a in parse_host_answers(f"mooring-probe 0 200 0.004 {ok} -", "", 2)]
    [200, None]
    >>> parse_host_answers("mooring-probe 7 000 0.001 - Y29ubmVjdCBmYWlsZWQ=", "", 1)[0].error
    'connect failed'
    """
    if stdout.startswith(_NO_TOOL):
        tools = " or ".join(stdout.split()[1:])
        why = f"the host has no {tools} to run probes with: install curl there (bootstrap), or probe from the controller"
        return [Answer(None, error=why, unchecked=True)] * count
    answers = [_parse_line(line) for line in stdout.splitlines() if line.startswith(_LINE + " ")][:count]
    if len(answers) < count:
        tail = " | ".join(x.strip() for x in (stderr or stdout).strip().splitlines()[-3:]) or "no output"
        answers += [Answer(None, error=f"the probe command on the host stopped before this request: {tail}",
                           unchecked=True)] * (count - len(answers))
    return answers


def _parse_line(line: str) -> Answer:
    parts = line.split(" ")
    try:
        rc, code, seconds, body, err = parts[1:6]
        status, elapsed_ms = int(code), int(float(seconds) * 1000)
        text, error = _unb64(body), _unb64(err).strip()
    except (ValueError, binascii.Error):
        return Answer(None, error=f"unparsable probe output: {line[:200]!r}", unchecked=True)
    if rc != "0" or status == 0:
        return Answer(None, "", elapsed_ms, error or f"the request failed (exit {rc})")
    return Answer(status, text, elapsed_ms)


def _unb64(field: str) -> str:
    return "" if field == "-" else base64.b64decode(field, validate=True).decode("utf-8", "replace")


class HostFetch:
    """GET from the host itself: one remote command per batch of requests, through ``run``.

    + run: runs a shell command on the host (:func:`pyinfra_runner` of a connected pyinfra host)
    + tools: the HTTP clients to try on the host, in order (``curl``, ``python3``)

    ``HostFetch(run)(url, timeout)`` asks one URL; ``many`` asks a batch in one command.
    """

    def __init__(self, run: RunCommand, tools: Sequence[str] = ("curl", "python3")):
        host_fetch_script([], tools)  # refuses unknown tools now, not at the first probe
        self.run, self.tools = run, tuple(tools)

    def __call__(self, url: str, timeout: float) -> Answer:
        return self.many([(url, timeout)])[0]

    def many(self, requests: Sequence[tuple[str, float]]) -> list[Answer]:
        """The answers to every ``(url, timeout)``, asked in order by one command on the host."""
        if not requests:
            return []
        script = host_fetch_script(requests, self.tools)
        _ok, stdout, stderr = self.run(script, sum(timeout for _, timeout in requests) + 15)
        return parse_host_answers(stdout, stderr, len(requests))


def pyinfra_runner(host: Any) -> RunCommand:
    """A :data:`RunCommand` on a connected pyinfra ``Host`` (``host.run_shell_command``); a
    time-out or a dropped connection comes back as a failed command, never an exception."""
    def run(command: str, timeout: float) -> tuple[bool, str, str]:
        try:
            ok, output = host.run_shell_command(command, _timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - TimeoutError, SSH errors: the probes get no answer
            return False, "", f"{type(exc).__name__}: {exc}"
        return ok, output.stdout, output.stderr
    return run


def make_fetch(probes_from: str, run: RunCommand | None = None) -> Fetch:
    """The fetch function for ``probes_from``: :func:`controller_fetch`, or a :class:`HostFetch`
    over ``run`` (required then).

    >>> make_fetch("controller") is controller_fetch
    True
    """
    if probes_from == CONTROLLER:
        return controller_fetch
    if probes_from != HOST:
        raise ValueError(f"probes_from {probes_from!r}: use {CONTROLLER} or {HOST}")
    if run is None:
        raise ValueError("probes_from host needs a way to run commands on the host (pyinfra_runner(host))")
    return HostFetch(run)


def fetch_all(fetch: Fetch, requests: Sequence[tuple[str, float]]) -> list[Answer]:
    """Every ``(url, timeout)`` through ``fetch``: in one batch when it has ``many``, else one by one.

    >>> fetch_all(lambda url, timeout: Answer(200, url), [("a", 1.0), ("b", 1.0)])[1].text
    'b'
    """
    many = getattr(fetch, "many", None)
    return list(many(list(requests))) if many else [fetch(url, timeout) for url, timeout in requests]


# --- polling: the gate and the probes of a check ------------------------------------------------

@dataclass(frozen=True)
class Ask:
    """One probe to poll: what to GET and what a passing answer looks like (see :func:`answer_problem`)."""

    name: str
    url: str
    expected_status: int = 200
    contains: str | None = None
    max_latency_ms: int | None = None
    timeout: float = 5.0
    retries: int = 1
    interval: float = 1.0
    #: Any of these statuses passes instead of ``expected_status`` (a closed endpoint: 403 or 404).
    statuses: tuple[int, ...] = ()


#: Told of each attempt as it ends (the result so far): live progress of a gate.
OnAttempt = Callable[[ProbeResult], None]


def poll(asks: Sequence[Ask], fetch: Fetch | None = None, on_attempt: OnAttempt | None = None) -> list[ProbeResult]:
    """GET every probe until it passes or its ``retries`` run out, ``interval`` seconds apart;
    the probes due at the same time go to ``fetch`` as one batch (one command on a host).
    ``on_attempt`` hears of every attempt as it ends.

    >>> [r.ok for r in poll([Ask("x", "u")], lambda url, timeout: Answer(200, "ok", 3))]
    [True]
    """
    return _poll(asks, fetch or controller_fetch, on_attempt)[0]


def _poll(asks: Sequence[Ask], fetch: Fetch,
          on_attempt: OnAttempt | None = None) -> tuple[list[ProbeResult], list[Answer | None]]:
    """:func:`poll`, plus each probe's last whole answer (its body beyond the excerpt)."""
    results = [ProbeResult(a.name, a.url, ok=False, attempts=0) for a in asks]
    answers: list[Answer | None] = [None] * len(asks)
    due = [0.0] * len(asks)
    pending = set(range(len(asks)))
    while pending:
        now = time.monotonic()
        batch = sorted(i for i in pending if due[i] <= now)
        if not batch:
            time.sleep(min(due[i] for i in pending) - now)
            continue
        for i, answer in zip(batch, fetch_all(fetch, [(asks[i].url, asks[i].timeout) for i in batch])):
            answers[i] = answer
            _record(results[i], asks[i], answer)
            if on_attempt is not None:
                on_attempt(results[i])
            if results[i].ok or results[i].attempts >= max(asks[i].retries, 1):
                pending.discard(i)
            else:
                due[i] = time.monotonic() + asks[i].interval
    return results, answers


def _record(result: ProbeResult, ask: Ask, answer: Answer) -> None:
    result.attempts += 1
    result.elapsed_ms, result.unchecked = answer.elapsed_ms, answer.unchecked
    if answer.status is None:
        result.status, result.body, result.error = None, "", answer.error
        return
    result.status, result.body = answer.status, answer.text[:BODY_EXCERPT]
    if ask.statuses:
        wanted = " or ".join(map(str, ask.statuses))
        result.error = "" if answer.status in ask.statuses else f"status {answer.status}, expected {wanted}"
    else:
        result.error = answer_problem(answer.status, answer.text, answer.elapsed_ms, ask.expected_status,
                                      ask.contains, ask.max_latency_ms)
    result.ok = not result.error


def probe(name: str, url: str, expected_status: int = 200, timeout: float = 5.0, retries: int = 30,
          interval: float = 1.0, contains: str | None = None, max_latency_ms: int | None = None,
          fetch: Fetch | None = None) -> ProbeResult:
    """GET ``url`` until an answer passes (see :func:`answer_problem`) or ``retries`` run out.

    + name: the probe's declared name (for messages)
    + url: the full URL to GET (redirects are not followed)
    + expected_status, contains, max_latency_ms: what a passing answer looks like
    + timeout: seconds one attempt may take; retries: attempts at most; interval: seconds between them
    + fetch: how to GET (None: :func:`controller_fetch`)

    Nothing listens on port 9 of 127.0.0.1 here, so this probe fails after its one attempt:

    >>> result = probe("ready", "http://127.0.0.1:9/api/v1/health/ready", retries=1)
    >>> result.ok, result.attempts, result.status, result.error.startswith("ConnectError")
    (False, 1, None, True)
    """
    return poll([Ask(name, url, expected_status, contains, max_latency_ms, timeout, retries, interval)], fetch)[0]


def probe_url(http_base: str, path: str, port: int | None = None, address: str = "") -> str:
    """The URL of ``path`` on the host of ``http_base``; ``port`` replaces the base's port and
    ``address`` (the one address a port is published on) its host.

    >>> probe_url("http://10.0.0.5:8080/", "/api/v1/version")
    'http://10.0.0.5:8080/api/v1/version'
    >>> probe_url("http://10.0.0.5:8080", "/metrics", port=9090)
    'http://10.0.0.5:9090/metrics'
    >>> probe_url("http://[::1]", "/ready", port=8000)
    'http://[::1]:8000/ready'
    >>> probe_url("http://127.0.0.1:80", "/-/ready", port=9090, address="10.0.0.5")
    'http://10.0.0.5:9090/-/ready'
    """
    base = http_base.rstrip("/")
    if port is None and not address:
        return base + path
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, f"{_bracket(address or parts.hostname or '')}:{port or parts.port or 80}",
                       parts.path, "", "")) + path


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _specific(address: str) -> str:
    """``address`` unless it means every address ("", 0.0.0.0, ::)."""
    return "" if address in ("", "0.0.0.0", "::") else address


def probe_base(stack: Stack, host_name: str, host_data: Mapping[str, Any] | None = None) -> str:
    """The URL of the stack's ``http_port`` as seen from where its probes run (``probes_from``).

    From the host: its own address (``http://127.0.0.1:<http_port>``, or the one address the
    port is published on). From the controller: ``mooring_http_base`` from the host's data
    when set (e.g. the sandbox's 127.0.0.1:28001), else ``http://<ssh_hostname or name>:<http_port>``.

    + stack: the host's declared stack
    + host_name, host_data: the inventory's name and data of the host
    """
    data = host_data or {}
    port = stack.http_port or 80
    if stack.probes_from == HOST:
        published = [m.host_ip for s in stack.services.values() for m in s.ports
                     if m.published == port and m.protocol == "tcp"]
        return f"http://{_bracket(_specific(published[0] if published else '') or '127.0.0.1')}:{port}"
    return data.get("mooring_http_base") or f"http://{_bracket(data.get('ssh_hostname') or host_name)}:{port}"


def unreachable(probe: Probe, probes_from: str) -> str:
    """Why ``probe`` cannot be asked from where probes run, or "": a port published on the
    host's loopback address only is out of the controller's reach.

    >>> from mooring.declare.model import Probe
    >>> unreachable(Probe("metrics", "/-/ready", 9090, "prometheus", 200, 5.0, 1, 2.0, None, None, "127.0.0.1"),
    ...             "controller")
    'port 9090 is published on 127.0.0.1 only: the controller cannot reach it'
    """
    if probes_from == CONTROLLER and (probe.host_ip.startswith("127.") or probe.host_ip == "::1"):
        return f"port {probe.port} is published on {probe.host_ip} only: the controller cannot reach it"
    return ""


#: The fix of :func:`unreachable`.
UNREACHABLE_FIX = ("set stack.probes_from: host (probes then run on the host itself, over SSH), or publish the port "
                   "on an address the controller reaches")


def gate_specs(probes: Sequence[Probe], http_port: int | None) -> tuple[dict[str, Any], ...]:
    """The model's probes in the plan's dict format (:func:`run_gate`). A probe on the stack's
    own HTTP port goes to the base URL (which may map that port, e.g. the sandbox's
    127.0.0.1:28001); ``address`` is the one address another port is published on."""
    keys = ("name", "path", "expected_status", "timeout", "retries", "interval", "contains", "max_latency_ms")
    return tuple({**{key: getattr(p, key) for key in keys}, "port": None if p.port in (None, http_port) else p.port,
                  "address": "" if p.port in (None, http_port) else _specific(p.host_ip)} for p in probes)


def run_gate(http_base: str, probes: list[dict[str, Any]], fetch: Fetch | None = None,
             on_attempt: OnAttempt | None = None) -> list[ProbeResult]:
    """Poll every probe of one host (plan format from deploy/stack.py) until each passes or its
    retries run out; the results in the probes' order.

    Each probe is a dict with ``name`` and ``path``, and optionally ``expected_status`` (200),
    ``timeout`` (5), ``retries`` (30), ``interval`` (1), ``contains``, ``max_latency_ms``,
    ``port`` (None: the port of ``http_base``) and ``address`` ("" : the host of ``http_base``).

    + http_base: the stack's HTTP port from where ``fetch`` runs (:func:`probe_base`)
    + fetch: :func:`controller_fetch` (None) or a :class:`HostFetch` for ``probes_from: host``
    + on_attempt: hears of every attempt as it ends (live progress)

    >>> run_gate("http://127.0.0.1:9", [])
    []
    """
    return poll([_ask(http_base, spec) for spec in probes], fetch, on_attempt)


def run_probe(http_base: str, spec: dict[str, Any], fetch: Fetch | None = None) -> ProbeResult:
    """Run one probe dict of the plan against the host of ``http_base``."""
    return run_gate(http_base, [spec], fetch)[0]


def _ask(http_base: str, spec: dict[str, Any]) -> Ask:
    url = probe_url(http_base, spec["path"], spec.get("port"), spec.get("address") or "")
    return Ask(spec["name"], url, spec.get("expected_status", 200), spec.get("contains"), spec.get("max_latency_ms"),
               float(spec.get("timeout", 5.0)), int(spec.get("retries", 30)), float(spec.get("interval", 1.0)))


# --- the HTTP checks of `mooring check` -----------------------------------------------------------

CHECK_HEALTH = "http.health"
CHECK_SMOKE = "http.smoke"
CHECK_METRICS = "http.metrics"
CHECK_ENDPOINTS = "http.endpoints"
CHECK_REMOVED = "http.removed_route"


def http_checks(stack: Stack, fetch: Fetch, base: str, host: str) -> list[Finding]:
    """The HTTP checks of one host's deployed stack, as findings (kind ``probe``).

    - ``http.health``: every declared health probe answers as declared, asked once (its
      ``retries`` are how long the deploy gate waits for a new release, not a check's);
    - ``http.smoke``: every declared smoke probe, every key in effect (``expected_status``,
      ``contains``, ``max_latency_ms``, ``port``/``service``, ``timeout``, ``retries``, ``interval``);
    - ``http.metrics``: ``httpErrorRate`` of /internal/metrics: <= 0.05 passes, above warns,
      above 0.10 fails;
    - ``http.endpoints``: a dev/ops endpoint family declared off answers 403 or 404;
    - ``http.removed_route``: /auth/me answers 410.

    When no health probe gets any answer the other checks are skipped, saying why.

    + stack: the host's declared stack
    + fetch: :func:`controller_fetch`, or ``HostFetch(pyinfra_runner(host))`` for ``probes_from: host``
      (:func:`make_fetch`)
    + base: the stack's HTTP port from where ``fetch`` runs (:func:`probe_base`)
    + host: the host's name (subject and host of every finding)

    >>> def fetch(url, timeout):
    ...     return Answer(410 if url.endswith("/auth/me") else 200, '{"httpErrorRate": 0.2}', 4)
    >>> stack = build_model("docker-1", ["sandbox", "docker_boxes"]).stack  # doctest: +SKIP
    >>> [(f.check, f.outcome.value) for f in http_checks(stack, fetch, "http://127.0.0.1:80", "docker-1")
    ...  if f.outcome is not Outcome.PASSED]  # doctest: +SKIP
    [('http.metrics', 'failed'), ('http.endpoints', 'failed')]
    """
    findings: list[Finding] = []
    health = _declared_checks(CHECK_HEALTH, "stack.health", stack, base, host, findings, retries=1)
    checks = _declared_checks(CHECK_SMOKE, "stack.smoke", stack, base, host, findings)
    results, _ = _poll([ask for ask, _ in health], fetch)
    findings += [judge(result) for (_, judge), result in zip(health, results)]
    silent = bool(results) and all(r.status is None for r in results)

    if stack.http_port is not None:
        checks += _fixed_checks(stack, base, host)
        findings += [_gate_on(gate, host) for gate in stack.endpoints.values() if gate.enabled]
    else:
        findings += [_finding(check, Outcome.SKIPPED, host, "stack.proxy", f"http:{path}",
                              "the stack publishes no HTTP port (its proxy publishes none): nothing to ask")
                     for check, path in ((CHECK_METRICS, METRICS_PATH), (CHECK_REMOVED, REMOVED_ROUTE))]
    if silent:
        why = f"no health probe got an answer ({results[0].error})"
        return findings + [judge(None, skipped=why) for _, judge in checks]
    results, answers = _poll([ask for ask, _ in checks], fetch)
    return findings + [judge(result, answer=answer) for (_, judge), result, answer in zip(checks, results, answers)]


def _declared_checks(check: str, key: str, stack: Stack, base: str, host: str, findings: list[Finding],
                     retries: int | None = None) -> list[tuple[Ask, Callable[..., Finding]]]:
    """What to ask for the declared ``stack.health`` or ``stack.smoke`` probes, each with its judge;
    a probe out of reach from where probes run goes straight into ``findings``, unasked."""
    checks = []
    for index, probe in enumerate(getattr(stack, key.split(".")[1])):
        path = f"{key}.{index}"
        why = unreachable(probe, stack.probes_from)
        if why:
            findings.append(_finding(check, Outcome.FAILED, host, f"{path}.{'service' if probe.service else 'port'}",
                                     f"http:{probe.name}", f"probe {probe.name}: {why}", UNREACHABLE_FIX))
            continue
        same = probe.port in (None, stack.http_port)
        url = probe_url(base, probe.path, None if same else probe.port, "" if same else _specific(probe.host_ip))
        ask = Ask(probe.name, url, probe.expected_status, probe.contains, probe.max_latency_ms, probe.timeout,
                  probe.retries if retries is None else retries, probe.interval)
        checks.append((ask, _probe_judge(check, path, probe, host)))
    return checks


def _fixed_checks(stack: Stack, base: str, host: str) -> list[tuple[Ask, Callable[..., Finding]]]:
    """The checks of routes every reference API serves: metrics, closed endpoint families, /auth/me."""
    checks: list[tuple[Ask, Callable[..., Finding]]] = [
        (Ask("metrics", probe_url(base, METRICS_PATH), timeout=CHECK_TIMEOUT), _metrics_judge(host))]
    for gate in stack.endpoints.values():
        if gate.enabled:
            continue
        ask = Ask(f"endpoints_{gate.name}", probe_url(base, gate.probe_path), timeout=CHECK_TIMEOUT,
                  statuses=CLOSED_STATUSES)
        checks.append((ask, _status_judge(CHECK_ENDPOINTS, f"stack.endpoints.{gate.name}.enabled", host, gate.probe_path,
                                          f"the {gate.name} endpoints are declared off",
                                          f"make sure {gate.enabled_env}=false reaches the app "
                                          f"(stack.services.{stack.proxy.upstream or 'api'}.env) and deploy again")))
    removed = Ask("removed_route", probe_url(base, REMOVED_ROUTE), REMOVED_STATUS, timeout=CHECK_TIMEOUT)
    checks.append((removed, _status_judge(CHECK_REMOVED, "", host, REMOVED_ROUTE, f"{REMOVED_ROUTE} is a removed route",
                                          f"the API must answer {REMOVED_STATUS} ROUTE_REMOVED on {REMOVED_ROUTE} "
                                          "(callers move to /users/me)")))
    return checks


def _finding(check: str, outcome: Outcome, host: str, path: str, resource: str, message: str, fix: str = "",
             expected: str = "", actual: str = "") -> Finding:
    return Finding(check, outcome, host, path, message, fix, host=host, kind=Kind.PROBE, resource=resource,
                   expected=expected, actual=actual)


def _said(result: ProbeResult) -> str:
    """What the last answer was, for a message: its status and time, or why there was none."""
    if result.status is None:
        return result.error
    tries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
    return f"{result.status} in {result.elapsed_ms} ms{tries}"


def _failed_outcome(result: ProbeResult) -> Outcome:
    """FAILED, or ERROR when the probe could not be made at all (the host had no tool, SSH failed)."""
    return Outcome.ERROR if result.unchecked else Outcome.FAILED


def _probe_judge(check: str, path: str, probe: Probe, host: str) -> Callable[..., Finding]:
    """The finding of a declared health or smoke probe from its result."""
    want = [f"status {probe.expected_status}"] + ([f"body contains {probe.contains!r}"] if probe.contains else []) + (
        [f"within {probe.max_latency_ms} ms"] if probe.max_latency_ms else [])

    def judge(result: ProbeResult | None, answer: Answer | None = None, skipped: str = "") -> Finding:
        resource = f"http:{probe.name}"
        if result is None:
            return _finding(check, Outcome.SKIPPED, host, path, resource, f"skipped: {skipped}")
        if result.ok:
            return _finding(check, Outcome.PASSED, host, path, resource, f"GET {result.url}: {_said(result)}",
                            expected=", ".join(want), actual=f"status {result.status}")
        body = f"; body {result.body!r}" if result.status is not None and result.body else ""
        return _finding(check, _failed_outcome(result), host, path, resource,
                        f"GET {result.url}: {result.error}" + (f" ({_said(result)})" if result.status else "") + body,
                        _probe_fix(result, probe, path), ", ".join(want),
                        f"status {result.status}" if result.status is not None else "no answer")
    return judge


def _probe_fix(result: ProbeResult, probe: Probe, path: str) -> str:
    if result.unchecked:
        return "make the probe possible: see the message"
    if result.status is None:
        return "nothing answered: is the service up (docker compose ps) and its port published and open?"
    if result.error.startswith("answered in"):
        return f"find why the answer is slow (host load, database), or raise {path}.max_latency_ms"
    if result.error.startswith("body does not contain"):
        return f"the answer lacks the declared text: check the running release, or {path}.contains"
    return f"check the service's logs (docker compose logs) and the release; {path}.expected_status says what is expected"


def _status_judge(check: str, path: str, host: str, route: str, what: str, fix: str) -> Callable[..., Finding]:
    """The finding of a fixed route that must answer one of a few statuses."""
    def judge(result: ProbeResult | None, answer: Answer | None = None, skipped: str = "") -> Finding:
        resource = f"http:{route}"
        if result is None:
            return _finding(check, Outcome.SKIPPED, host, path, resource, f"skipped: {skipped}")
        if result.ok:
            return _finding(check, Outcome.PASSED, host, path, resource, f"GET {result.url}: {_said(result)}",
                            actual=f"status {result.status}")
        return _finding(check, _failed_outcome(result), host, path, resource,
                        f"{what}, but GET {result.url}: {result.error}", fix,
                        actual=f"status {result.status}" if result.status is not None else "no answer")
    return judge


def _gate_on(gate: EndpointGate, host: str) -> Finding:
    """An endpoint family that is on is not asked: whether the prober is in its whitelist is unknown."""
    whitelist = ", ".join(gate.whitelist) or "nobody"
    return _finding(CHECK_ENDPOINTS, Outcome.SKIPPED, host, f"stack.endpoints.{gate.name}.enabled",
                    f"http:{gate.probe_path}", f"the {gate.name} endpoints are declared on (whitelist: {whitelist}): "
                    "only a family that is off is checked")


def error_rate_outcome(rate: float) -> Outcome:
    """The outcome of an ``httpErrorRate``: <= 0.05 passes, above warns, above 0.10 fails.

    >>> [error_rate_outcome(r).value for r in (0.0, 0.05, 0.0501, 0.10, 0.1001)]
    ['passed', 'passed', 'warning', 'warning', 'failed']
    """
    if rate > ERROR_RATE_FAIL:
        return Outcome.FAILED
    if rate > ERROR_RATE_WARN:
        return Outcome.WARNING
    return Outcome.PASSED


def _metrics_judge(host: str) -> Callable[..., Finding]:
    def judge(result: ProbeResult | None, answer: Answer | None = None, skipped: str = "") -> Finding:
        resource = f"http:{METRICS_PATH}"
        if result is None:
            return _finding(CHECK_METRICS, Outcome.SKIPPED, host, "", resource, f"skipped: {skipped}")
        if not result.ok or answer is None:
            return _finding(CHECK_METRICS, Outcome.ERROR if result.unchecked else Outcome.WARNING, host, "", resource,
                            f"GET {result.url}: {result.error}: the error rate cannot be judged",
                            f"serve {METRICS_PATH} with httpErrorRate (seed 000's metrics contract)")
        return metrics_finding(answer.text, result.url, host)
    return judge


def metrics_finding(text: str, url: str, host: str) -> Finding:
    """The ``http.metrics`` finding of a /internal/metrics body (JSON with ``httpErrorRate``).

    >>> metrics_finding('{"httpErrorRate": 0.07, "httpErrorsTotal": 7, "httpRequestsTotal": 100}', "u", "h").message
    'httpErrorRate 0.07 (7 errors of 100 requests) is above 0.05'
    >>> metrics_finding("<html>", "u", "h").outcome.value
    'warning'
    """
    resource = f"http:{METRICS_PATH}"
    try:
        data = json.loads(text)
        rate = data["httpErrorRate"]
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise TypeError(f"httpErrorRate is {rate!r}")
    except (ValueError, KeyError, TypeError) as exc:
        return _finding(CHECK_METRICS, Outcome.WARNING, host, "", resource,
                        f"GET {url}: no numeric httpErrorRate in the answer ({type(exc).__name__}: {exc}); body "
                        f"{text[:BODY_EXCERPT]!r}", f"serve {METRICS_PATH} as JSON with httpErrorRate (seed 000)")
    counts = f" ({data.get('httpErrorsTotal', '?')} errors of {data.get('httpRequestsTotal', '?')} requests)"
    outcome = error_rate_outcome(float(rate))
    if outcome is Outcome.PASSED:
        message = f"httpErrorRate {rate:g}{counts} is at most {ERROR_RATE_WARN:g}"
    else:
        message = f"httpErrorRate {rate:g}{counts} is above {ERROR_RATE_FAIL if outcome is Outcome.FAILED else ERROR_RATE_WARN:g}"
    fix = "" if outcome is Outcome.PASSED else (
        "find the failing requests (status >= 500) in the API's log; above 0.10 for 3 minutes, roll back (seed 000)")
    return _finding(CHECK_METRICS, outcome, host, "", resource, message, fix,
                    expected=f"httpErrorRate <= {ERROR_RATE_WARN:g}", actual=f"httpErrorRate {rate:g}")
