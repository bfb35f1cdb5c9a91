"""The strict YAML loader (declare/layers.py ``read_yaml``): merge keys, duplicate keys, text keys,
YAML 1.2 scalars, and every value PyYAML cannot build refused as a ``ConfigError`` naming file,
line/column and a fix (never a traceback, never the value)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mooring.checks.findings import Outcome
from mooring.declare.schema import validate_layer
from mooring.declare.layers import MAX_DEPTH, Layer, merge, read_yaml
from mooring.declare.errors import ConfigError
from mooring.checks.preflight import preflight_report
from tests.declared_world import make_world

MERGED_HEALTHCHECKS = """\
stack:
  services:
    api:
      healthcheck: &healthcheck
        test: [CMD, curl, -fsS, "http://127.0.0.1:8000/api/v1/health/live"]
        interval: 10s
        timeout: 5s
        retries: 5
    redis:
      healthcheck:
        <<: *healthcheck
        test: [CMD, redis-cli, ping]
        retries: 3
"""


def load(tmp_path: Path, text: str, name: str = "all.yml") -> dict:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_yaml(path)


def refused(tmp_path: Path, text: str) -> str:
    """The one problem read_yaml reports for ``text``, as text (file: line, column: message (fix: ...))."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    [problem] = info.value.problems
    assert problem.file.endswith("all.yml") and problem.message.startswith("invalid YAML: ") and problem.fix
    return str(problem)


# --- merge keys -------------------------------------------------------------------------------------

def test_a_layer_with_merge_keys_validates(tmp_path):
    data = load(tmp_path, MERGED_HEALTHCHECKS)
    validate_layer(data, "group_data/all.yml")
    redis = data["stack"]["services"]["redis"]["healthcheck"]
    assert redis == {"test": ["CMD", "redis-cli", "ping"], "interval": "10s", "timeout": "5s", "retries": 3}
    assert "<<" not in redis
    assert data["stack"]["services"]["api"]["healthcheck"]["retries"] == 5  # the anchored mapping is unchanged


def test_merged_keys_remember_their_file(tmp_path):
    data = load(tmp_path, MERGED_HEALTHCHECKS, "production.yml")
    merged = merge([Layer("all", "group_data/all.yml", {"stack": {"name": "solacore"}}),
                    Layer("production", "group_data/production.yml", data)])
    assert merged.file_of("stack.services.redis.healthcheck.interval") == "group_data/production.yml"
    assert merged.file_of("stack.services.redis.healthcheck.test") == "group_data/production.yml"
    assert merged.file_of("stack.name") == "group_data/all.yml"


def test_a_merge_key_layer_passes_the_preflight(tmp_path, monkeypatch):
    world = make_world(tmp_path)
    world.activate(monkeypatch)
    layer = world.layer("production.yml")
    text = layer.read_text(encoding="utf-8")
    shared = text.replace("    dev:\n", "    dev: &gate\n").replace("    ops:\n", "    ops:\n      <<: *gate\n")
    assert "    ops:\n      <<: *gate\n      enabled: true\n" in shared and "dev: &gate" in shared
    layer.write_text(shared, encoding="utf-8")
    report = preflight_report(str(world.inventory), ["production"], str(world.group_data))
    assert report.valid, [str(f) for f in report.findings if f.outcome is Outcome.FAILED]


def test_merge_key_list_first_mapping_wins_and_own_keys_override(tmp_path):
    data = load(tmp_path, "a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n")
    assert data["c"] == {"x": 1, "y": 1, "z": 3}


@pytest.mark.parametrize("key", ["x", "retries"])  # PyYAML's own merge lets the merged value win for "x"
def test_a_merged_mapping_that_merges_itself_keeps_its_overrides(tmp_path, key):
    data = load(tmp_path, f"b: &b {{{key}: 1, y: 1}}\nm: &m\n  <<: *b\n  {key}: 2\nd:\n  <<: *m\n  y: 3\n")
    assert data["m"] == {key: 2, "y": 1} and data["d"] == {key: 2, "y": 3}


def test_a_mapping_merged_before_it_is_built_keeps_its_own_keys(tmp_path):
    # The anchored mapping sits in a list (built after the rest), so `d` flattens it first.
    data = load(tmp_path, "b: &b {x: 1}\nl:\n  - &m\n    <<: *b\n    x: 2\nd:\n  <<: *m\n")
    assert data["l"] == [{"x": 2}] and data["d"] == {"x": 2}


def test_a_real_duplicate_key_is_still_refused(tmp_path):
    text = refused(tmp_path, "a: &a {retries: 1}\nb:\n  <<: *a\n  retries: 2\n  retries: 3\n")
    assert "all.yml: line 5, column 3: invalid YAML: duplicate key 'retries'" in text
    text = refused(tmp_path, "stack:\n  name: x\n  <<: {releases_keep: 3}\n  name: y\n")
    assert "all.yml: line 4, column 3: invalid YAML: duplicate key 'name'" in text


@pytest.mark.parametrize("text, problem", [
    ("a: 1\n<<: 5\n", "line 2, column 5: invalid YAML: `<<` merges mappings, found scalar"),
    ("a: &a {x: 1}\nc: {<<: [*a, 2]}\n", "line 2, column 14: invalid YAML: `<<` merges mappings, found scalar"),
    ("a: &a {x: 1}\nc:\n  <<: *a\n  <<: *a\n", "line 4, column 3: invalid YAML: duplicate key '<<'"),
    ("a: &x {<<: *x}\n", "alias *x refers to a mapping or list that contains it"),
    ("a: &x [*x]\n", "alias *x refers to a mapping or list that contains it"),
])
def test_bad_merges_and_recursive_aliases_are_refused(tmp_path, text, problem):
    assert problem in refused(tmp_path, text)


# --- keys ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, where, problem, fix", [
    ("a: 1\n~: 2\n", "line 2, column 1", "key '~' is not text (YAML reads it as null)", "quote it: '~':"),
    ("a: 1\n1.5: 2\n", "line 2, column 1", "key '1.5' is not text (YAML reads it as a number)", "quote it: '1.5':"),
    ("stack:\n  services:\n    8080: x\n", "line 3, column 5", "key '8080' is not text", "quote it: '8080':"),
    ("true: 1\n", "line 1, column 1", "key 'true' is not text (YAML reads it as a boolean)", "quote it: 'true':"),
    ("? \n: 1\n", "line 1, column 2", "empty key (YAML reads it as null)", "write the key's name"),
    ("? [a]\n: 1\n", "line 1, column 3", "a list is used as a key", "use a text key"),
    ("!!binary aGVsbG8=: 1\n", "line 1, column 1", "key 'aGVsbG8=' is not text", "drop the !!binary tag"),
])
def test_keys_must_be_text(tmp_path, text, where, problem, fix):
    shown = refused(tmp_path, text)
    assert f": {where}: invalid YAML: {problem}" in shown and f"(fix: {fix}" in shown


@pytest.mark.parametrize("text, path", [("'': 1\n", "''"), ("stack:\n  env:\n    '': x\n", "stack.env.''")])
def test_an_empty_key_is_shown_quoted_in_the_key_path(tmp_path, text, path):
    with pytest.raises(ConfigError) as info:
        validate_layer(load(tmp_path, text), "group_data/all.yml")
    assert [p.path for p in info.value.problems] == [path]


# --- scalars and values PyYAML cannot build -----------------------------------------------------

def test_yaml_1_2_scalars_dates_and_equals_stay_text(tmp_path):
    assert load(tmp_path, "a: 2001-02-30\nb: 2024-01-31\nc: 2001-12-14t21:59:43.10-05:00\nd: =\ne: NO\n") == {
        "a": "2001-02-30", "b": "2024-01-31", "c": "2001-12-14t21:59:43.10-05:00", "d": "=", "e": "NO"}


SECRETISH = "Zq8secretValue42"


@pytest.mark.parametrize("text, problem", [
    ("a: " + "1" * 4301 + "\n", "integer with more than 4300 digits"),
    (f"a: !!int {SECRETISH}\n", "this !!int value cannot be read as a plain decimal integer"),
    ("a: !!int 08\n", "this !!int value cannot be read"),
    (f"a: !!float {SECRETISH}\n", "this !!float value cannot be read as a number"),
    ("a: !!float ;\n", "this !!float value cannot be read"),
    ("a: !!int\n", "this !!int value cannot be read"),
    (f"a: !!timestamp {SECRETISH}\n", "this !!timestamp value cannot be read as a date"),
    ("a: !!timestamp 2001-02-30\n", "this !!timestamp value cannot be read as a date"),
])
def test_unreadable_values_are_refused_at_their_position_without_the_value(tmp_path, text, problem):
    shown = refused(tmp_path, text)
    assert f"all.yml: line 1, column 4: invalid YAML: {problem}" in shown
    assert SECRETISH not in shown and "1" * 50 not in shown


@pytest.mark.parametrize("text", [
    "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "a: " + "{a: " * 495 + "x" + "}" * 495 + "\n",
    "stack:" + "".join("\n" + "  " * i + "k:" for i in range(1, 500)) + " x\n",
])
def test_deep_nesting_is_refused(tmp_path, text):
    shown = refused(tmp_path, text)
    assert f"invalid YAML: nested more than {MAX_DEPTH} levels deep (fix: flatten the structure" in shown


def test_nesting_within_the_limit_loads(tmp_path):
    depth = MAX_DEPTH - 2  # the document's own mapping and `a` are two levels
    assert load(tmp_path, "a: " + "[" * depth + "x" + "]" * depth + "\n")["a"]
