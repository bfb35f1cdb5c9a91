"""The dotenv files mooring writes and reads (the stack's ``.env``, secrets files): a codec whose
output Compose v2 reads back unchanged, and the permission check every secret-holding file gets."""

from __future__ import annotations

import re
from pathlib import Path

from mooring.declare.errors import ConfigError, ConfigProblem

_SINGLE_QUOTE_SAFE = re.compile(r"^[^'\x00-\x1f\x7f]*$")
_BARE_SAFE = re.compile(r"^[A-Za-z0-9_./:@%+,=-]*$")


# --- dotenv codec --------------------------------------------------------------------------

def quote_env_value(value: str) -> str:
    """``value`` written for a Compose v2 env file so that it reads back unchanged.

    Plain words stay bare; anything else is single-quoted (literal: no escapes, no ``$``
    interpolation, ``#`` kept); values with a single quote or a control character are
    double-quoted: ``\\ " $`` and newline, CR, tab backslash-escaped (the escapes compose-go
    reads), other control characters raw.

    >>> quote_env_value("abc"), quote_env_value("a b # $x"), quote_env_value("it's\\n")
    ('abc', "'a b # $x'", '"it\\'s\\\\n"')
    """
    if _BARE_SAFE.match(value):
        return value
    if _SINGLE_QUOTE_SAFE.match(value):
        return f"'{value}'"
    escaped = []
    for char in value:
        if char in '\\"$':
            escaped.append("\\" + char)
        elif char == "\n":
            escaped.append("\\n")
        elif char == "\r":
            escaped.append("\\r")
        elif char == "\t":
            escaped.append("\\t")
        else:  # other control characters stay raw: compose-go knows no \x escape
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def format_dotenv(values: dict[str, str], header: str = "") -> str:
    """A whole dotenv file, keys sorted (deterministic), each value quoted by :func:`quote_env_value`.

    >>> format_dotenv({"B": "2", "A": "x y"})
    "A='x y'\\nB=2\\n"
    """
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [f"{key}={quote_env_value(values[key])}" for key in sorted(values)]
    return "\n".join(lines) + "\n"


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "$": "$", "'": "'"}


def parse_dotenv(text: str) -> dict[str, str]:
    """Read a dotenv file written by :func:`format_dotenv` (or by hand: bare, '…' or "…" values).

    Raises ``ValueError`` with the line number (never the value) on a malformed line.

    >>> parse_dotenv("# c\\nA='x y'\\nexport B=\\"1\\\\n2\\"\\nC=plain # note\\n")
    {'A': 'x y', 'B': '1\\n2', 'C': 'plain'}
    """
    values: dict[str, str] = {}
    # A line ends at \n only, as Compose and the host's awk read it (str.splitlines also breaks at U+2028...).
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, eq, rest = line.partition("=")
        key = key.strip()
        if not eq or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ValueError(f"line {number}: expected KEY=VALUE")
        values[key] = _parse_value(rest.strip(), number)
    return values


def _parse_value(rest: str, number: int) -> str:
    if rest.startswith("'"):
        end = rest.find("'", 1)
        if end < 0:
            raise ValueError(f"line {number}: unterminated single quote")
        return rest[1:end]
    if rest.startswith('"'):
        out, index = [], 1
        while index < len(rest):
            char = rest[index]
            if char == "\\" and index + 1 < len(rest):
                nxt = rest[index + 1]
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                index += 2
                continue
            if char == '"':
                return "".join(out)
            out.append(char)
            index += 1
        raise ValueError(f"line {number}: unterminated double quote")
    return re.split(r"\s+#", rest, maxsplit=1)[0].strip()


def check_private_file(path: Path, what: str = "secrets file") -> None:
    """Refuse ``path`` when its group or others may read or write it (``ConfigError`` naming the fix).

    A missing file passes (nothing to protect yet).

    >>> check_private_file(Path("/nonexistent/secrets.env"))
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(ConfigProblem(str(path), "", f"cannot stat the {what}: {exc.strerror}",
                                        f"fix its permissions: chmod 600 {path}"))
    if mode & 0o077:
        raise ConfigError(ConfigProblem(
            str(path), "", f"the {what} is readable or writable by group or others (mode {mode & 0o777:04o})",
            f"chmod 600 {path} (and rotate its secrets if others may have read them)"))
