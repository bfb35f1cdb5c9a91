"""Fuzzing the YAML loader and the validator (issue 7): bad declared input never ends in a traceback.

Every example writes one layer file (``all.yml``, ``production.yml`` or a host's own file) of a
throw-away declared world and runs the in-process pre-flight that ``mooring validate`` runs
(:func:`mooring.checks.preflight.preflight_report`). It must return findings, never raise anything but
mooring's own ``ConfigError``/``MooringError``; every failed finding names a real file (and a
key path when the problem sits at a key), no rule crashes ("internal error in rule"), the text
and JSON reports build, and no test secret value shows up in them.

What is fuzzed:

* raw layer text: random bytes (non-UTF-8 included), random unicode, YAML-ish lines built from
  real keys and nasty fragments (tags such as ``!!python/object``, anchors, aliases, ``<<:``
  merge keys, huge numbers, timestamps, flow brackets, tabs, directives), deep nesting, and
  line-level mutations of the shipped ``group_data/all.yml`` (lines dropped, duplicated
  (duplicate keys), re-indented, truncated, nasty values spliced in);
* structured data dumped with ``yaml.safe_dump``: ``recursive`` trees of dicts, lists and
  scalars, and mutations of the shipped ``all.yml`` (a key dropped, a value's type changed,
  unknown keys inserted, empty strings, None, very long strings, shell metacharacters, path
  traversal in paths).

Bounded and deterministic: ``derandomize=True``, no example database, 370 examples in all (about
20 s of CPU; under a minute on a busy 2-core machine). ``MOORING_FUZZ_SCALE=10`` runs ten times as many (and
keeps them derandomized) for a deeper local run.

Known bugs (:data:`KNOWN_BUGS`) are pinned as ``@example(...).xfail(...)`` (hypothesis' equivalent
of ``pytest.mark.xfail(strict=True)``: the test fails once the example stops failing). While a
bug is open (probed at import with its minimal input), generated inputs that hit it in the
per-file half of the pre-flight (``read_yaml`` + ``validate_layer``) are filtered out, so the rest
of the fuzzing stays meaningful; once it is fixed its filter switches itself off and only its
``.xfail(...)`` has to be removed.
"""

from __future__ import annotations

import copy
import io
import json
import os
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from mooring.checks.findings import Finding, Outcome
from mooring.declare import layers as declared
from mooring.commands.validate import format_text, write_json
from mooring.declare.layers import display_path, read_yaml
from mooring.declare.errors import ConfigError, MooringError
from mooring.checks.preflight import DECLARED_CHECK, preflight_report
from tests.declared_world import ROOT, SECRETS, make_world

# cerberus warns when two keys normalise to one (e.g. two `.nan` keys): noise here, not a failure.
pytestmark = pytest.mark.filterwarnings("ignore:Normalizing keys:UserWarning")

SCALE = max(1, int(os.environ.get("MOORING_FUZZ_SCALE", "1")))
ALL_YML = (ROOT / "group_data" / "all.yml").read_text(encoding="utf-8")
ALL_DATA = yaml.safe_load(ALL_YML)
PROD_HOST = "prod-1.example.invalid"
SANDBOX_HOST = "docker-1"
#: A production host and a sandbox host: both gated environments' rules and the key-file path.
INVENTORY = f'production = ["{PROD_HOST}"]\nsandbox = ["{SANDBOX_HOST}"]\n'
LAYERS = ["all.yml", "production.yml", f"hosts/{PROD_HOST}.yml"]
SECRET_VALUES = [value for values in SECRETS.values() for value in values.values()]


def fuzz_settings(examples: int) -> settings:
    """Deterministic (CI) and bounded: no database, no deadline (the first run spawns checkers)."""
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much, HealthCheck.large_base_example])


# --- the world every example runs in --------------------------------------------------------------

class FuzzWorld:
    """A declared world; :meth:`put` restores every other file to its shipped content first.

    Only files that changed are rewritten and dropped from the layer cache, so unchanged layers
    stay cached as in a real ``mooring validate`` (the cache key is (path, mtime, size): a
    rewrite of the same size within the timestamp granularity would be served stale, hence the
    explicit eviction).
    """

    def __init__(self, root: Path, group_data: Path, state: Path, inventory: Path) -> None:
        self.root, self.group_data, self.state, self.inventory = root, group_data, state, inventory
        self.baseline = {p: p.read_bytes() for p in self._files()}

    def __repr__(self) -> str:  # hypothesis prints the fixture with every failing example
        return f"FuzzWorld({self.root})"

    def _files(self) -> list[Path]:
        return [p for folder in (self.group_data, self.state / "secrets") for p in folder.rglob("*") if p.is_file()]

    def put(self, layer: str | None = None, content: bytes | str = b"") -> Path | None:
        """Restore the shipped world, then (optionally) write ``content`` as ``layer``."""
        target = self.group_data / layer if layer else None
        for path in self._files():
            if path not in self.baseline and path != target:
                path.unlink()
                _evict(path)
        for path, shipped in self.baseline.items():
            if path == target or (path.exists() and path.read_bytes() == shipped):
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(shipped)
            _evict(path)
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
            _evict(target)
        return target

    def layer_files(self) -> set[str]:
        return {display_path(p) for p in self.group_data.rglob("*.yml")}


def _evict(path: Path) -> None:
    resolved = str(path.resolve())
    for key in [k for k in declared._LAYER_CACHE if k[0] == resolved]:
        del declared._LAYER_CACHE[key]


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    world = make_world(tmp_path_factory.mktemp("fuzz"))
    world.activate(mp)
    world.inventory.write_text(INVENTORY)
    # One full run first: checkers warm up and the sandbox's generated secrets become baseline.
    report = preflight_report(str(world.inventory), None, str(world.group_data))
    assert report.valid, [str(f) for f in report.findings if f.outcome is Outcome.FAILED]
    yield FuzzWorld(world.root, world.group_data, world.state, world.inventory)
    mp.undo()


def check_layer(world: FuzzWorld, layer: str, content: bytes | str) -> list[Finding]:
    """Write ``content`` as ``layer``, run the pre-flight and assert every property of its report."""
    fuzzed = display_path(world.put(layer, content))
    try:
        report = preflight_report(str(world.inventory), None, str(world.group_data))
    except (ConfigError, MooringError) as exc:  # allowed, but must still name the file
        assert str(exc).strip(), "an empty error message"
        assert all(p.file for p in getattr(exc, "problems", [])), str(exc)
        return []
    findings = report.findings
    event(_outcome_event(findings))
    known_files = world.layer_files() | {str(world.inventory)}
    for finding in findings:
        text = str(finding)
        assert "internal error" not in finding.message, f"a rule crashed: {text}"
        assert finding.check != "internal", text
        if finding.outcome not in (Outcome.FAILED, Outcome.WARNING):
            continue
        assert finding.file, f"finding names no file: {text}"
        assert finding.file in known_files or finding.file.startswith("templates/"), \
            f"finding names {finding.file!r}, not a declared file: {text}"
        assert finding.message and finding.fix, f"finding without message or fix: {text}"
        if finding.check == DECLARED_CHECK and not finding.path:
            assert finding.file == fuzzed and _whole_file_problem(finding.message), \
                f"a key-level problem without a key path: {text}"
    out = format_text(findings, show_passed=True, hosts=len(report.hosts))
    stream = io.StringIO()
    write_json(findings, report.valid, "-", stream=stream)
    json.loads(stream.getvalue())
    for secret in SECRET_VALUES:
        assert secret not in out and secret not in stream.getvalue(), "a secret value reached the report"
    return findings


def _outcome_event(findings: list[Finding]) -> str:
    """How far the input got (``--hypothesis-show-statistics`` shows the spread)."""
    failed = [f for f in findings if f.outcome is Outcome.FAILED]
    if not failed:
        return "outcome: valid (rules and checkers ran)"
    if any(f.check == DECLARED_CHECK and _whole_file_problem(f.message) for f in failed):
        return "outcome: file refused (syntax, encoding, top level)"
    if any(f.check == DECLARED_CHECK for f in failed):
        return "outcome: declared data refused (schema, model)"
    return "outcome: rule findings"


def _whole_file_problem(message: str) -> bool:
    return message.startswith(("invalid YAML", "not UTF-8", "top level must be a mapping", "cannot read", "the file is empty"))


# --- known bugs (open ones are filtered out of generated inputs) --------------------------------

@dataclass(frozen=True)
class KnownBug:
    """A problem the fuzzing found, with its minimal input and a test for "this input hits it"."""

    name: str
    text: str
    hits: Callable[[BaseException | None], bool]  # given what the layer check raised

    @property
    def open(self) -> bool:
        return self.hits(_layer_outcome(self.text.encode()))


def _layer_outcome(content: bytes) -> BaseException | None:
    """What read_yaml + validate_layer (the per-file half of the pre-flight) raise on ``content``."""
    from mooring.declare.schema import validate_layer

    with tempfile.NamedTemporaryFile("wb", suffix=".yml", delete=False) as handle:
        handle.write(content)
    try:
        validate_layer(read_yaml(Path(handle.name)), "fuzz.yml")
    except Exception as exc:  # noqa: BLE001 - that is the point (RecursionError included)
        return exc
    finally:
        os.unlink(handle.name)
    return None


def crash(types: tuple[type[BaseException], ...], where: str) -> Callable[[BaseException | None], bool]:
    """Hit when a non-mooring exception of ``types`` escapes with ``where`` in its traceback."""
    def hits(exc: BaseException | None) -> bool:
        return isinstance(exc, types) and not isinstance(exc, MooringError) and \
            where in {frame.name for frame in traceback.extract_tb(exc.__traceback__)}
    return hits


def key_level_problem_without_path(exc: BaseException | None) -> bool:
    return isinstance(exc, ConfigError) and any(not p.path and not _whole_file_problem(p.message) for p in exc.problems)


#: All fixed (each probe now finds a ``ConfigError``; kept so that a regression is filtered and named):
#: read_yaml (declare/layers.py, the ``yaml.load`` call) caught only ``yaml.YAMLError``, but
#: PyYAML's scalar constructors raise ValueError & co. for values they cannot build and its
#: composer/constructor recurse once per nesting level. validate_layer (declare/schema.py) handed
#: mappings with null/float/date keys to cerberus, which sorts its errors by key path and
#: compares None with str/int (TypeError); an empty top-level key yielded an empty key path.
KNOWN_BUGS = [
    KnownBug("implicit timestamp out of range", "a: 2001-02-30\n", crash((ValueError,), "read_yaml")),
    KnownBug("integer longer than 4300 digits", "a: " + "1" * 4301 + "\n", crash((ValueError,), "read_yaml")),
    KnownBug("explicit !!int/!!float tag on a bad scalar", "a: !!int abc\n", crash((ValueError,), "read_yaml")),
    KnownBug("empty explicit !!int", "a: !!int\n", crash((IndexError,), "read_yaml")),
    KnownBug("unparsable explicit !!timestamp", "a: !!timestamp x\n", crash((AttributeError,), "read_yaml")),
    KnownBug("nesting deeper than the recursion limit", "a: " + "[" * 5000 + "]" * 5000 + "\n",
             crash((RecursionError,), "read_yaml")),
    KnownBug("null key next to another key", "a: 1\n~: 2\n", crash((TypeError,), "validate_layer")),
    KnownBug("empty top-level key: problem without key path", "'': 1\n", key_level_problem_without_path),
]
OPEN_BUGS = [bug for bug in KNOWN_BUGS if bug.open]


def no_open_bug(content: bytes | str) -> bool:
    """False when ``content`` hits a still-open known bug (such inputs are pinned as xfail examples)."""
    if not OPEN_BUGS:
        return True
    raw = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    outcome = _layer_outcome(raw)
    return not any(bug.hits(outcome) for bug in OPEN_BUGS)


# --- strategies: raw text -----------------------------------------------------------------------

KEYS = sorted({"environment", "bootstrap", "stack", "services", "api", "db", "redis", "nginx", "prometheus", "env",
               "image", "role", "ports", "volumes", "source", "target", "healthcheck", "test", "interval",
               "depends_on", "migration", "command", "proxy", "health", "smoke", "backups", "schedule",
               "databases", "directory", "cors", "allowed_origins", "endpoints", "dev", "ops", "whitelist",
               "name", "releases_keep", "base_dir", "backup_dir", "authorized_keys", "authorized_key_files",
               "deploy_user", "timezone", "secret", "value", "multiline", "enabled", "mode", "template",
               "required_env", "POSTGRES_DB", "DATABASE_URL", "<<", "? ", "-", "unknown_key"})
NASTY_SCALARS = [
    "", "~", "null", "true", "NO", "yes", "0", "-0", "0123", "0x1F", "0o17", "1_000", "12:30", "1e400", "-1e400",
    ".nan", ".inf", "9" * 400, "1.10", "!!python/object:os.system {}", "!!python/object/apply:os.system [id]",
    "!!python/name:os.system", "!!binary aGVsbG8=", "!!binary '!!'", "!!set {a, b}", "!!omap [a: 1]",
    "!!str", "!!map {}", "!!seq []", "!!null x", "!!bool maybe", "!<tag:example.com,2000:x> y", "!local x",
    "&a x", "*a", "&a {k: v}", "<<: *a", "*undefined", "[", "]", "{", "}", "[a, {b: c}]", "{a: [b, c]}", "'", '"',
    '"unterminated', "'it''s'", "|", ">-", "|\n  block", "- a", ": ", "? x", "#comment", "%YAML 1.1", "---", "...",
    "@reserved", "`backtick`", "\t", "a\tb", "$(id)", "`id`", "; rm -rf /", "${POSTGRES_DB}", "$${X}",
    "../../etc/passwd", "/srv/../../etc", "${STACK_DIR}/../x", "\u0000", "\u200b", "\ufeff", "\U0001F600",
    "{secret: POSTGRES_PASSWORD}", "{secret: lower}", "{value: x, multiline: true}", "2001-12-14",
    "2001-12-14t21:59:43.10-05:00", "2001-02-30", "2001-13-01", "2001-12-14t21:59:43.10-25:00", "9" * 4400,
    "!!int x", "!!int", "!!int 0b102", "!!float ._", "!!float x", "!!timestamp x", "!!timestamp 2001-12-14",
]
indent = st.sampled_from(["", " ", "  ", "   ", "    ", "      ", "\t", "  \t"])
key_text = st.sampled_from(KEYS) | st.text(min_size=1, max_size=8)
scalar_text = st.sampled_from(NASTY_SCALARS) | st.text(max_size=12)


@st.composite
def yaml_line(draw) -> str:
    kind = draw(st.sampled_from(["key", "key_value", "item", "item_key", "raw"]))
    prefix = draw(indent)
    if kind == "key":
        return f"{prefix}{draw(key_text)}:"
    if kind == "key_value":
        return f"{prefix}{draw(key_text)}: {draw(scalar_text)}"
    if kind == "item":
        return f"{prefix}- {draw(scalar_text)}"
    if kind == "item_key":
        return f"{prefix}- {draw(key_text)}: {draw(scalar_text)}"
    return prefix + draw(scalar_text)


yamlish_text = st.lists(yaml_line(), min_size=1, max_size=25).map("\n".join)


@st.composite
def nested_text(draw) -> str:
    """Deep nesting, kept below the loader's depth limit (deeper cases are examples of the raw-text test)."""
    depth = draw(st.integers(1, 60))
    leaf = draw(scalar_text.filter(lambda s: "\n" not in s))
    style = draw(st.sampled_from(["flow_list", "flow_map", "block_map", "block_list"]))
    if style == "flow_list":
        body = "[" * depth + leaf + "]" * depth
    elif style == "flow_map":
        body = "{a: " * depth + leaf + "}" * depth
    elif style == "block_map":
        body = "\n" + "".join("  " * (i + 1) + f"{draw(key_text)}:\n" for i in range(depth)) + "  " * (depth + 1) + leaf
    else:
        body = "\n" + "".join("  " * i + "  -\n" for i in range(depth)) + "  " * (depth + 1) + leaf
    top = draw(st.sampled_from(["stack", "bootstrap", "environment", "stack:\n  env:\n    X", "stack:\n  services:\n    api"]))
    return f"{top}: {body}\n"


@st.composite
def mutated_all_text(draw) -> str:
    """The shipped all.yml with a few line-level edits."""
    lines = ALL_YML.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["drop", "duplicate", "reindent", "splice", "truncate", "replace_char", "anchor"]))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "drop":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "reindent":
            lines[i] = draw(indent) + lines[i].lstrip()
        elif op == "splice":
            head, sep, _tail = lines[i].partition(": ")
            lines[i] = f"{head}{sep or ': '}{draw(scalar_text)}"
        elif op == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
            del lines[i + 1: i + 1 + draw(st.integers(0, 40))]
        elif op == "replace_char" and lines[i]:
            j = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:j] + draw(st.characters(codec="utf-8")) + lines[i][j + 1:]
        elif op == "anchor":
            head, sep, tail = lines[i].partition(":")
            if sep:
                lines[i] = f"{head}: &x{tail}" if tail.strip() else f"{head}: &x"
                lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(
                    ["copy: *x", "  <<: *x", "stack:\n  <<: *x", "<<: *x", "  x: *x", "- *x"])))
        if not lines:
            lines = [""]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n", "\r\n"]))


non_utf8 = st.binary(min_size=1, max_size=200).filter(lambda b: not _is_utf8(b))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


raw_content = st.one_of(
    st.binary(max_size=200),
    non_utf8,
    st.text(max_size=200),
    yamlish_text,
    nested_text(),
    mutated_all_text(),
).filter(no_open_bug)
layer_name = st.sampled_from(LAYERS)


# --- strategies: structured data --------------------------------------------------------------

LONG = "x" * 10_000
NASTY_STRINGS = ["", " ", LONG, "a" * 300, "$(reboot)", "`id`", "; rm -rf / #", "a && b || c", "x | tee /etc/passwd",
                 "'\"\\", "$HOME", "${POSTGRES_PASSWORD}", "${UNKNOWN_KEY}", "$${STACK_DIR}", "../../../etc/shadow",
                 "/srv/../etc", "/srv/mooring/../../root", "${STACK_DIR}/../../etc", "//double//slash", "C:\\win",
                 "relative/path", "./x", "-rf", "--flag=1", "\n", "a\nb", "a\rb", "\x00", "\x1b[31mred",
                 "\u202eevil", "\ufeffbom", "é", "\U0001F600", "{{ 7*7 }}", "{% raw %}", "#", "*", "0755", "0644",
                 "postgres:15", "nginx:1.25", "127.0.0.1:80:80", "80:80", "99999:80", "10.0.0.0/8", "0 2 * * *",
                 "61 25 * * *", "@daily", "https://app.example.com", "*", "service_healthy", "true", "no"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.sampled_from([0, -1, 1, 65535, 65536, 10 ** 300]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(NASTY_STRINGS), st.text(max_size=20),
)
structured_keys = st.one_of(st.sampled_from([k for k in KEYS if k not in ("<<", "? ", "-")]), st.text(max_size=10),
                            st.integers(-3, 3), st.booleans(), st.none())
trees = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                     | st.dictionaries(structured_keys, children, max_size=4), max_leaves=25)
structured_layer = st.dictionaries(st.sampled_from(["environment", "bootstrap", "stack"]) | structured_keys,
                                   trees, max_size=4)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path (dict keys, list indexes) in ``node``, parents first."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


ALL_PATHS = _paths(ALL_DATA)
PATH_KEYS = ("base_dir", "backup_dir", "source", "target", "directory", "template", "authorized_key_files", "path")
TRAVERSALS = ["../../etc/passwd", "/srv/../etc", "/srv/mooring/../../root", "${STACK_DIR}/../../etc", "..",
              "/", "//", "/srv/mooring/./x", "relative", "/srv/moo ring", "/srv/$(id)", "/srv/`id`", "/srv/;reboot",
              "nginx/../../../etc/passwd.j2", "/etc/shadow", "~/x", "${MOORING_STATE}/../../etc/shadow"]


def _parent(data: Any, path: tuple) -> Any:
    node = data
    for part in path[:-1]:
        node = node[part]
    return node


#: Slots the schema takes any text in: their values reach the model, the rules, the rendered
#: compose file/.env/scripts and the external checkers.
FREE_TEXT_SLOTS = [("stack", "env", "APP_VERSION"), ("stack", "env", "POSTGRES_USER"), ("stack", "env", "REDIS_URL"),
                   ("stack", "env", "DATABASE_URL"), ("stack", "env", "FUZZ_VALUE"), ("stack", "env", "TRUSTED_PROXIES"),
                   ("stack", "services", "api", "command", 1), ("stack", "services", "db", "healthcheck", "test", 3),
                   ("stack", "migration", "command", 2), ("stack", "smoke", 0, "contains")]
FREE_TEXT = st.sampled_from(NASTY_STRINGS) | st.text(max_size=30) | st.builds(
    lambda v: {"value": v, "multiline": True}, st.sampled_from(NASTY_STRINGS) | st.text(max_size=30))


@st.composite
def mutated_all_data(draw) -> dict[str, Any]:
    """The shipped all.yml as data with 1-3 edits: drop a key, change a value's type, insert an unknown
    key, empty/None/very long values, shell metacharacters, path traversal, nasty free text."""
    data = copy.deepcopy(ALL_DATA)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        if not paths:
            break
        op = draw(st.sampled_from(["drop", "retype", "unknown", "empty", "none", "long", "metachar", "traversal",
                                   "free_text", "free_text"]))
        if op == "traversal":
            paths = [p for p in paths if any(part in PATH_KEYS for part in p if isinstance(part, str))] or paths
        if op == "free_text":
            paths = [slot for slot in FREE_TEXT_SLOTS if _has_parent(data, slot)] or paths
        path = draw(st.sampled_from(paths))
        parent, last = _parent(data, path), path[-1]
        if op == "drop":
            del parent[last]
        elif op == "retype":
            parent[last] = draw(trees.filter(lambda v, old=parent[last]: type(v) is not type(old)))
        elif op == "unknown":
            target = parent[last] if isinstance(parent[last], dict) else parent if isinstance(parent, dict) else data
            target[draw(structured_keys)] = draw(trees)
        elif op == "empty":
            parent[last] = {} if isinstance(parent[last], dict) else [] if isinstance(parent[last], list) else ""
        elif op == "none":
            parent[last] = None
        elif op == "long":
            parent[last] = draw(st.sampled_from([LONG, "a" * 300, "/" + "a/" * 2000]))
        elif op == "metachar":
            parent[last] = draw(st.sampled_from(NASTY_STRINGS[4:20]))
        elif op == "traversal":
            parent[last] = draw(st.sampled_from(TRAVERSALS))
        else:
            parent[last] = draw(FREE_TEXT)
    return data


def _has_parent(data: Any, path: tuple) -> bool:
    node = data
    for part in path[:-1]:
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return False
    last = path[-1]
    return isinstance(node, dict) or (isinstance(node, list) and isinstance(last, int) and last < len(node))


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# --- the tests --------------------------------------------------------------------------------

def test_shipped_world_is_valid_and_known_bugs_are_current(fuzz_world):
    """Sanity: the unmodified world passes, and the known-bug list says which bugs still reproduce."""
    fuzz_world.put()
    assert preflight_report(str(fuzz_world.inventory), None, str(fuzz_world.group_data)).valid
    print(f"open known bugs: {[bug.name for bug in OPEN_BUGS] or 'none'}", file=sys.stderr)


@fuzz_settings(200)
@given(layer=layer_name, content=raw_content)
@example(layer="all.yml", content=b"\xff\xfe\x00bootstrap: {}")
@example(layer="all.yml", content="stack: !!python/object/apply:os.system [id]\n")
@example(layer="production.yml", content="a: &x [*x]\n<<: *x\n")
@example(layer="all.yml", content="stack:\n  name: x\n  name: y\n")
@example(layer="all.yml", content="stack:\n  releases_keep: " + "9" * 4000 + "\n")
@example(layer=f"hosts/{PROD_HOST}.yml", content="stack:\n  env:\n    X: 2001-12-14\n    .nan: 2\n    .NaN: 3\n")
# --- known bugs (KNOWN_BUGS), fixed: kept as examples; a new bug is pinned with `.xfail(raises=...)` ---
@example(layer="all.yml", content="a: 2001-02-30\n")
@example(layer="all.yml", content="a: " + "1" * 4301 + "\n")
@example(layer="all.yml", content="a: !!int abc\n")
@example(layer="all.yml", content="a: !!int\n")
@example(layer="all.yml", content="a: !!timestamp x\n")
@example(layer="all.yml", content="a: " + "[" * 5000 + "]" * 5000 + "\n")
@example(layer="all.yml", content="a: 1\n~: 2\n")
@example(layer="all.yml", content="'': 1\n")
@example(layer="all.yml", content="a: !!int 08\nb: !!float ;\n")
@example(layer="production.yml", content="stack:\n  env:\n    1.5: x\n    ? [a]\n    : y\n")
@example(layer="all.yml", content="a: &x {<<: *x}\n")
@example(layer="all.yml", content="stack:" + "".join("\n" + "  " * i + "k:" for i in range(1, 200)) + " x\n")
@example(layer="production.yml", content="x: &base {releases_keep: 3}\nstack:\n  <<: *base\n  name: other\n")
def test_raw_layer_text_never_crashes(fuzz_world, layer, content):
    check_layer(fuzz_world, layer, content)


@fuzz_settings(80)
@given(layer=layer_name, text=structured_layer.map(dump).filter(no_open_bug))
def test_structured_layer_never_crashes(fuzz_world, layer, text):
    check_layer(fuzz_world, layer, text)


@fuzz_settings(90)
@given(layer=st.sampled_from(["all.yml", f"hosts/{PROD_HOST}.yml"]), text=mutated_all_data().map(dump).filter(no_open_bug))
@example(layer="all.yml", text=dump({**ALL_DATA, "bootstrap": {**ALL_DATA["bootstrap"], "base_dir": "/srv/../etc"}}))
@example(layer="all.yml", text=dump({**ALL_DATA, "stack": {**ALL_DATA["stack"], "name": "$(reboot)"}}))
@example(layer="all.yml", text=dump({k: v for k, v in ALL_DATA.items() if k != "stack"}))
def test_mutated_all_yml_never_crashes(fuzz_world, layer, text):
    check_layer(fuzz_world, layer, text)
