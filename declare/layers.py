"""Declared state: YAML layers in ``group_data/``, merged all < groups < host.

Each ``group_data/<group>.yml`` is loaded (and schema-checked on its own) by a thin
``group_data/<group>.py`` shim, so plain ``pyinfra`` sees it as host data under
``mooring_layer_<group>``. ``group_data/hosts/<host>.yml`` holds per-host overrides.
Merging is deep for mappings; lists and scalars from a later layer replace earlier ones.
The merge remembers which file set every key, so errors can name the right file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from mooring.declare.errors import ConfigError, ConfigProblem
from mooring.declare.paths import NotAProject, ROOT, group_data_default, project_root

LAYER_KEY_PREFIX = "mooring_layer_"


@dataclass
class Layer:
    """One YAML file's data."""

    name: str
    file: str
    data: dict[str, Any]


@dataclass
class Merged:
    """Merged data plus, for every dotted key path, the file that set it."""

    data: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def file_of(self, path: str) -> str:
        """The file that declared ``path`` (or its closest declared parent)."""
        while path:
            if path in self.origin:
                return self.origin[path]
            path = path.rpartition(".")[0]
        return self.files[-1] if self.files else "group_data/all.yml"


def group_data_dir() -> Path:
    """The declared-state folder: ``MOORING_GROUP_DATA`` when set (read at call time), else the
    project's ``group_data/``.

    >>> os.environ["MOORING_GROUP_DATA"] = "/srv/declared"
    >>> group_data_dir()
    PosixPath('/srv/declared')
    >>> del os.environ["MOORING_GROUP_DATA"]
    >>> group_data_dir() == project_root() / "group_data"
    True
    """
    override = os.environ.get("MOORING_GROUP_DATA")
    return Path(override) if override else group_data_default()


def display_path(path: Path | str) -> str:
    """A path relative to the project root when inside it (shorter, stable in messages).

    >>> display_path(project_root() / "group_data" / "all.yml"), display_path("/etc/hosts")
    ('group_data/all.yml', '/etc/hosts')
    """
    path = Path(path)
    try:
        base = project_root()
    except NotAProject:
        base = ROOT
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)


#: Deeper than any declared state needs; refused with a position before Python's recursion limit is near.
MAX_DEPTH = 100

_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_INT_DIGITS = 4300  # Python's default limit for int() on text (sys.get_int_max_str_digits)


class _Refused(yaml.constructor.ConstructorError):
    """A YAML problem at a position, with its own fix (read_yaml turns it into a ``ConfigError``)."""

    def __init__(self, problem: str, mark: Any, fix: str) -> None:
        super().__init__(None, None, problem, mark)
        self.fix = fix


_TOO_DEEP_FIX = "flatten the structure: declared state needs only a few levels"
#: libyaml scans and parses (the pure-Python scanner took most of a minute on a 5 MB layer);
#: composing stays Python's, with the checks below. Without libyaml: PyYAML's own parser.
try:
    from yaml.cyaml import CParser as _Parser
except ImportError:  # PyYAML built without libyaml
    _Parser = None


class _StrictLoader(yaml.composer.Composer, *((_Parser,) if _Parser else (yaml.reader.Reader, yaml.scanner.Scanner,
                                                                           yaml.parser.Parser)),
                    yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """``yaml.SafeLoader`` for declared state: YAML 1.2 scalars, text keys only, no key repeated in one
    mapping (the first would be lost silently), merge keys (``<<: *anchor``) supported, no recursive
    aliases, at most :data:`MAX_DEPTH` levels; a value PyYAML cannot build is a ``_Refused`` at its
    position, never a bare ``ValueError`` & co. (whose text would quote the value)."""

    def __init__(self, stream: Any) -> None:
        if _Parser:
            _Parser.__init__(self, stream)
        else:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._open_anchors: list[str | None] = []  # collections being composed, outermost first
        self._own_keys: dict[yaml.MappingNode, list[yaml.Node]] = {}  # key nodes written in each mapping

    def compose_node(self, parent: Any, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) and event.anchor in self._open_anchors:
            raise _Refused(f"alias *{event.anchor} refers to a mapping or list that contains it (recursive data)",
                           event.start_mark, f"refer to &{event.anchor} only outside of it")
        if len(self._open_anchors) >= MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep", event.start_mark, _TOO_DEEP_FIX)
        collection = isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent))
        self._open_anchors.append(event.anchor if collection else None)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_anchors.pop()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """Resolve merge keys in place: ``node.value`` becomes the merged pairs, then the mapping's own.

        Built pair lists keep the last pair of each key, so later pairs win: own keys override
        merged ones and in ``<<: [*a, *b]`` the first mapping wins (as YAML's merge key says, and
        also when a merged mapping merges others itself, which PyYAML's version gets wrong). The
        keys the mapping itself wrote are remembered for the duplicate check, also when the mapping
        is merged (hence flattened) elsewhere before it is built.
        """
        if node in self._own_keys:
            return
        own = [(key, value) for key, value in node.value if key.tag != _MERGE_TAG]
        merges = [(key, value) for key, value in node.value if key.tag == _MERGE_TAG]
        self._own_keys[node] = [key for key, _value in own]
        if len(merges) > 1:
            raise _Refused("duplicate key '<<' (the earlier merge would be ignored)", merges[1][0].start_mark,
                           "merge several mappings with one key: `<<: [*first, *second]`")
        sources: list[yaml.MappingNode] = []
        for _key, value in merges:
            items = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for item in items:
                if not isinstance(item, yaml.MappingNode):
                    raise _Refused(f"`<<` merges mappings, found {item.id}", item.start_mark,
                                   "merge a mapping: `<<: *anchor` or `<<: [*first, *second]`")
                sources.append(item)
        pairs: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
        for source in reversed(sources):
            self.flatten_mapping(source)
            for key, value in source.value:
                ident = (key.tag, key.value) if isinstance(key, yaml.ScalarNode) else key
                pairs.pop(ident, None)
                pairs[ident] = (key, value)
        node.value = [*pairs.values(), *own]

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, IndexError, AttributeError, OverflowError):
            problem, fix = _unreadable(node)
            raise _Refused(problem, node.start_mark, fix) from None


def _short_tag(tag: str) -> str:
    return "!!" + tag.rpartition(":")[2] if tag.startswith("tag:yaml.org,2002:") else tag


def _unreadable(node: yaml.Node) -> tuple[str, str]:
    """What to say about a value PyYAML could not build; never the value itself (it may be a secret)."""
    tag = _short_tag(node.tag)
    text = node.value if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) else ""
    if tag == "!!int" and sum(c.isdigit() for c in text) > _MAX_INT_DIGITS:
        return (f"integer with more than {_MAX_INT_DIGITS} digits",
                "quote it to keep it as text, or write a smaller number")
    explicit = {"!!int": "a plain decimal integer", "!!float": "a number such as 1.5",
                "!!timestamp": "a date such as 2024-01-31", "!!bool": "true or false"}
    if tag in explicit:
        return (f"this {tag} value cannot be read as {explicit[tag]}",
                f"write {explicit[tag]}, or drop the {tag} tag (quoted, the value stays text)")
    return (f"this {tag} value cannot be read", f"drop the {tag} tag or correct the value")


def _not_text_key(loader: _StrictLoader, node: yaml.Node, key: Any) -> _Refused:
    """A key that is not a string: cerberus (and people) need text keys; say how to quote it."""
    if not isinstance(node, yaml.ScalarNode):
        return _Refused(f"{_type_word(key)} is used as a key", node.start_mark, "use a text key")
    text = node.value if isinstance(node.value, str) else ""
    if not text:
        return _Refused("empty key (YAML reads it as null)", node.start_mark, "write the key's name before the colon")
    shown = repr(text if len(text) <= 40 else text[:37] + "...")
    implicit = node.style in (None, "") and loader.resolve(yaml.ScalarNode, text, (True, False)) == node.tag
    quoted = "'" + text.replace("'", "''") + "'"
    if not implicit:  # an explicit tag (e.g. !!binary) made it so: quoting would not help
        fix = f"drop the {_short_tag(node.tag)} tag"
    else:
        fix = f"quote it: {quoted}:" if len(quoted) <= 42 else "quote it"
    return _Refused(f"key {shown} is not text (YAML reads it as {_type_word(key)})", node.start_mark, fix)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)  # merge keys first: the `<<` key itself has no constructor
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise _not_text_key(loader, key_node, key)
    seen: set[str] = set()
    for key_node in loader._own_keys.get(node, []):  # merged keys may be overridden, own ones not repeated
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (the earlier value would be ignored)", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


def _type_word(value: Any) -> str:
    return {"NoneType": "null", "bool": "a boolean", "int": "a number", "float": "a number", "list": "a list",
            "dict": "a mapping", "bytes": "binary data", "date": "a date", "datetime": "a timestamp",
            "set": "a set", "tuple": "a list"}.get(type(value).__name__, type(value).__name__)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# YAML 1.2 core scalars instead of PyYAML's YAML 1.1 ones, which silently change values:
# NO/yes/on → booleans, 0123 → 83 (octal), 12:30 → 750 (base 60), 0x1F → 31, 2024-01-31 → a
# date (an impossible one such as 2001-02-30 → an error), `=` → an unconstructable "value". Here
# only true/false are booleans, integers are plain decimals without leading zeros, floats need a
# dot or an exponent (no base 60); everything else (dates included) stays the string that was
# written. Merge keys (`<<`, YAML 1.1) stay: teams share blocks with `<<: *anchor`.
_BOOL_TAG, _INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_DROPPED_TAGS = (_BOOL_TAG, _INT_TAG, _FLOAT_TAG, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_StrictLoader.add_implicit_resolver(_INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_StrictLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def _construct_bool(loader: _StrictLoader, node: yaml.ScalarNode) -> bool:
    """true/false in any case; any other ``!!bool`` text (``yes``, ``on``) is refused, never read as false."""
    text = loader.construct_scalar(node).lower()
    if text not in ("true", "false"):
        raise ValueError(f"not a YAML 1.2 boolean: {node.tag}")
    return text == "true"


_StrictLoader.add_constructor(_BOOL_TAG, _construct_bool)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML layer; a syntax error or a non-mapping top level is a ``ConfigError``.

    YAML 1.2 scalars: ``NO`` and ``0755`` stay the text that was written; a repeated key is refused.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     layer = Path(folder, "all.yml")
    ...     _ = layer.write_text("country: NO\\nmode: 0755\\nretries: 3\\n")
    ...     read_yaml(layer)
    {'country': 'NO', 'mode': '0755', 'retries': 3}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     layer = Path(folder, "all.yml")
    ...     _ = layer.write_text("mode: 1\\nmode: 2\\n")
    ...     read_yaml(layer)
    Traceback (most recent call last):
    mooring.declare.errors.ConfigError: ...all.yml: line 2, column 1: invalid YAML: duplicate key 'mode' (the earlier value would be ignored) (fix: fix the YAML syntax at that position)
    """
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(ConfigProblem(shown, "", f"cannot read: {exc.strerror}", "create the file or fix its permissions"))
    except UnicodeDecodeError:  # no byte, no position: the file may hold a secret
        raise ConfigError(ConfigProblem(shown, "", "not UTF-8 text", "save it as UTF-8")) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        fix = getattr(exc, "fix", None) or "fix the YAML syntax at that position"
        if "maximum nesting depth" in problem:  # libyaml's own limit, met before compose_node's
            problem, fix = f"nested more than {MAX_DEPTH} levels deep", _TOO_DEEP_FIX
        raise ConfigError(ConfigProblem(shown, where, f"invalid YAML: {problem}", fix)) from None
    except RecursionError:  # a backstop: compose_node refuses more than MAX_DEPTH levels first
        raise ConfigError(ConfigProblem(shown, "", "invalid YAML: nested too deeply",
                                        "flatten the structure: declared state needs only a few levels")) from None
    except (ValueError, TypeError, IndexError, AttributeError, OverflowError):  # a backstop, no value quoted
        raise ConfigError(ConfigProblem(shown, "", "invalid YAML: a value cannot be read",
                                        "quote unusual values and drop explicit !! tags")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(ConfigProblem(shown, "", f"top level must be a mapping, got {type(data).__name__}",
                                        "write `key: value` pairs at the top level"))
    return data


def load_layer(path: Path | str) -> dict[str, Any]:
    """Read a layer and check it against the layer schema (unknown keys, types).

    >>> load_layer(group_data_dir() / "all.yml")["stack"]["name"]
    'solacore'
    """
    from mooring.declare.schema import validate_layer

    path = Path(path)
    key = _cache_key(path)
    cached = _LAYER_CACHE.get(key) if key else None
    if cached is not None:
        if isinstance(cached, ConfigError):
            raise cached
        return _copy(cached)
    try:
        data = read_yaml(path)
        if not data:  # validated as nothing, then silently nothing deployed: say so instead
            raise ConfigError(ConfigProblem(display_path(path), "", "the file is empty: it declares no key",
                                            "declare the keys it is for, or delete the file"))
        validate_layer(data, display_path(path))
    except ConfigError as exc:
        if key:
            _LAYER_CACHE[key] = exc
        raise
    if key:
        _LAYER_CACHE[key] = _copy(data)
    return data


#: Loaded layers by (path, mtime, size): validating many hosts reads each file once.
_LAYER_CACHE: dict[tuple[str, int, int], Any] = {}


def _cache_key(path: Path) -> tuple[str, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def shim(py_file: str) -> dict[str, Any]:
    """What a ``group_data/<group>.py`` shim exports: its YAML sibling as ``mooring_layer_<group>``."""
    path = Path(py_file).with_suffix(".yml")
    return {f"{LAYER_KEY_PREFIX}{path.stem}": load_layer(path), f"{LAYER_KEY_PREFIX}{path.stem}_file": display_path(path)}


def host_layer_file(host_name: str, group_data: Path | None = None) -> Path:
    """Where a host's own overrides live."""
    return (group_data or group_data_dir()) / "hosts" / f"{host_name}.yml"


def layers_for(host_name: str, groups: Iterable[str], host_data: dict[str, Any] | None = None,
               group_data: Path | None = None) -> list[Layer]:
    """The layers that apply to one host, lowest priority first.

    ``host_data`` is pyinfra's host data (with the shims' ``mooring_layer_*`` keys). A shim's
    layer is used only when the shim read the same file this host's group data folder holds;
    otherwise (no shim, e.g. ``mooring validate``, or ``MOORING_GROUP_DATA`` pointing at
    another folder than the shims pyinfra loaded from its working directory) the YAML is read
    directly, so validate, ``mooring deploy`` and plain pyinfra always see the same layers.
    """
    group_data = group_data or group_data_dir()
    layers = []
    for name in ["all", *dict.fromkeys(g for g in groups if g != "all")]:
        key = f"{LAYER_KEY_PREFIX}{name}"
        path = group_data / f"{name}.yml"
        if host_data is not None and key in host_data and host_data.get(f"{key}_file") == display_path(path):
            layers.append(Layer(name, display_path(path), host_data[key]))
        elif path.exists():
            layers.append(Layer(name, display_path(path), load_layer(path)))
    own = host_layer_file(host_name, group_data)
    if own.exists():
        layers.append(Layer(f"host:{host_name}", display_path(own), load_layer(own)))
    return layers


def merge(layers: list[Layer]) -> Merged:
    """Deep-merge layers in order; later layers win, and every key remembers its file.

    >>> merged = merge([Layer("all", "group_data/all.yml", {"stack": {"name": "solacore", "env": {"DEBUG": "1"}}}),
    ...                 Layer("production", "group_data/production.yml", {"stack": {"env": {"DEBUG": "0"}}})])
    >>> merged.data
    {'stack': {'name': 'solacore', 'env': {'DEBUG': '0'}}}
    >>> merged.file_of("stack.env.DEBUG"), merged.file_of("stack.name"), merged.file_of("stack.env.NOT_SET")
    ('group_data/production.yml', 'group_data/all.yml', 'group_data/all.yml')
    """
    merged = Merged()
    for layer in layers:
        merged.files.append(layer.file)
        _merge_into(merged.data, layer.data, "", layer.file, merged.origin)
    return merged


def _merge_into(target: dict, source: dict, prefix: str, file: str, origin: dict[str, str]) -> None:
    for key, value in source.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            origin.setdefault(path, file)
            _merge_into(target[key], value, f"{path}.", file, origin)
        else:
            _forget(target.get(key), path, origin)
            target[key] = _copy(value)
            _record(value, path, file, origin)


def _forget(old: Any, path: str, origin: dict[str, str]) -> None:
    """Drop the origins of ``old``, the value at ``path`` a later layer replaces, and of all under it.

    It walks the replaced value, never the whole origin map: a search of every recorded path per
    replaced key made a merge quadratic (a layer of 125,000 env keys: minutes).
    """
    origin.pop(path, None)
    if isinstance(old, dict):
        for key, sub in old.items():
            _forget(sub, f"{path}.{key}", origin)


def _record(value: Any, path: str, file: str, origin: dict[str, str]) -> None:
    origin[path] = file
    if isinstance(value, dict):
        for key, sub in value.items():
            _record(sub, f"{path}.{key}", file, origin)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
