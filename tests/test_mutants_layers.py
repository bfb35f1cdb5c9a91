"""The YAML layers (declare/layers.py), pinned where mutation testing found them loose
(docs/mutation.md): what a refused key or value is called, where the cut-offs are, what a
group_data shim exports.

Host-free: YAML files in tmp_path, read in-process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mooring.declare.errors import ConfigError
from mooring.declare.layers import Layer, _merge_into, display_path, layers_for, load_layer, merge, read_yaml, shim
from tests.declared_world import make_world


def problem(tmp_path: Path, text: str) -> tuple[str, str, str]:
    """(position, message, fix) of the one problem read_yaml reports for ``text``."""
    path = tmp_path / "all.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    [found] = info.value.problems
    return found.path, found.message, found.fix


# --- keys that are not text -----------------------------------------------------------------------

FORTY = "1234567890" * 4


@pytest.mark.parametrize("text, message, fix", [
    ("8080: x\n", "key '8080' is not text (YAML reads it as a number)", "quote it: '8080':"),
    ("? {a: 1}\n: x\n", "a mapping is used as a key", "use a text key"),
    ("? !!set {a}\n: x\n", "a set is used as a key", "use a text key"),
    ("!!binary aGVsbG8=: x\n", "key 'aGVsbG8=' is not text (YAML reads it as binary data)", "drop the !!binary tag"),
    ("? !!timestamp 2024-01-31\n: x\n", "key '2024-01-31' is not text (YAML reads it as a date)",
     "drop the !!timestamp tag"),
    ("? !!timestamp 2024-01-31 10:30:00\n: x\n", "key '2024-01-31 10:30:00' is not text (YAML reads it as a timestamp)",
     "drop the !!timestamp tag"),
])
def test_a_key_that_is_not_text_is_named_by_its_type(tmp_path, text, message, fix):
    assert problem(tmp_path, text)[1:] == (f"invalid YAML: {message}", fix)


def test_a_long_key_is_cut_in_the_message_and_in_the_fix(tmp_path):
    # Up to 40 characters the key is shown whole, and the fix shows it quoted (42 characters).
    assert problem(tmp_path, f"{FORTY}: x\n")[1:] == (
        f"invalid YAML: key '{FORTY}' is not text (YAML reads it as a number)", f"quote it: '{FORTY}':")
    # One more: the key is cut to 37 characters and "...", the fix no longer spells it.
    assert problem(tmp_path, f"{FORTY}5: x\n")[1:] == (
        f"invalid YAML: key '{FORTY[:37]}...' is not text (YAML reads it as a number)", "quote it")


# --- values PyYAML cannot build -------------------------------------------------------------------

def test_the_integer_digit_limit_is_pythons(tmp_path):
    path = tmp_path / "all.yml"
    path.write_text("a: " + "7" * 4300 + "\n", encoding="utf-8")
    assert read_yaml(path)["a"] == int("7" * 4300)  # Python's own limit: 4300 digits still read
    assert problem(tmp_path, "a: " + "7" * 4301 + "\n") == (
        "line 1, column 4", "invalid YAML: integer with more than 4300 digits",
        "quote it to keep it as text, or write a smaller number")
    # 4300 digits and a letter: not too long, just not an integer.
    assert problem(tmp_path, "a: !!int " + "7" * 4300 + "x\n") == (
        "line 1, column 4", "invalid YAML: this !!int value cannot be read as a plain decimal integer",
        "write a plain decimal integer, or drop the !!int tag (quoted, the value stays text)")


@pytest.mark.parametrize("text", ["yes", "on", "1", "no", ""])
def test_an_explicit_bool_that_is_not_true_or_false_is_refused(tmp_path, text):
    assert problem(tmp_path, f"enabled: !!bool {text}\n") == (
        "line 1, column 10", "invalid YAML: this !!bool value cannot be read as true or false",
        "write true or false, or drop the !!bool tag (quoted, the value stays text)")


@pytest.mark.parametrize(("text", "value"), [("true", True), ("FALSE", False), ("True", True), ("false", False)])
def test_an_explicit_bool_reads_true_and_false(tmp_path, text, value):
    path = tmp_path / "all.yml"
    path.write_text(f"enabled: !!bool {text}\n", encoding="utf-8")
    assert read_yaml(path) == {"enabled": value}


# --- group_data shims -----------------------------------------------------------------------------

def test_a_shim_exports_its_yaml_sibling_and_where_it_came_from(tmp_path):
    world = make_world(tmp_path)
    exported = shim(str(world.group_data / "staging.py"))
    layer = world.layer("staging.yml")
    assert exported == {"mooring_layer_staging": load_layer(layer), "mooring_layer_staging_file": display_path(layer)}
    assert exported["mooring_layer_staging"]["environment"] == "staging"
    # What pyinfra hands a deploy file as host data is the layer layers_for uses for the group.
    exported["mooring_layer_staging"]["marker"] = "from the shim"
    [_all, staging] = layers_for("staging-1.example.invalid", ["staging"], exported, world.group_data)
    assert (staging.name, staging.file, staging.data["marker"]) == ("staging", display_path(layer), "from the shim")


class _WalkCountingOrigin(dict):
    """An origin map that counts how often it is walked whole."""

    walks = 0

    def __iter__(self):
        self.walks += 1
        return super().__iter__()


def test_a_merge_never_walks_every_recorded_origin_per_key():
    """Each key a later layer set searched the whole origin map for stale paths: merging a layer
    of n keys took n^2 steps (a 5 MB layer of 125,000 env keys: over ten minutes)."""
    origin = _WalkCountingOrigin()
    target: dict = {}
    _merge_into(target, {"stack": {"env": {f"K{i}": "v" for i in range(100)}}}, "", "all.yml", origin)
    _merge_into(target, {"stack": {"env": {f"K{i}": "w" for i in range(0, 100, 2)}, "name": "x"}}, "", "staging.yml", origin)
    assert origin.walks == 0
    assert (origin["stack.env.K0"], origin["stack.env.K1"], origin["stack.name"]) == ("staging.yml", "all.yml", "staging.yml")


def test_a_replaced_mapping_leaves_no_origin_of_its_keys():
    merged = merge([Layer("all", "all.yml", {"a": {"b": {"c": 1, "d": {"e": 2}}, "f": 3}}),
                    Layer("staging", "staging.yml", {"a": {"b": [1]}})])
    assert merged.origin == {"a": "all.yml", "a.b": "staging.yml", "a.f": "all.yml"}
