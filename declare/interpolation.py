"""Compose's variable forms, read the way Compose reads them.

``${KEY}``, ``${KEY:-default}``, ``${KEY-default}``, ``${KEY:?error}`` and ``${KEY?error}``;
``$${`` is a literal ``${``. Stack env values, service commands and healthchecks may use every
form (they are copied from compose files); mooring resolves them in ``stack.env`` and leaves them
for Compose elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BODY = r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}"
#: A reference, or the literal ``$${`` (group 1 is None for the literal).
REFERENCE_RE = re.compile(r"\$\$\{|" + _BODY)
#: A reference not preceded by ``$`` (in a text whose ``$$`` escapes were already taken out).
UNESCAPED_REFERENCE_RE = re.compile(r"(?<!\$)" + _BODY)
#: What Compose reads in a compose file: ``$$``, a reference, or a lone ``$``.
COMPOSE_DOLLAR_RE = re.compile(r"\$\$|" + _BODY + r"|\$")


@dataclass(frozen=True)
class Reference:
    """One ``${KEY...}``: the key, the operator (``""``, ``:-``, ``-``, ``:?``, ``?``) and its text.

    >>> [ref.key for ref in references("${A} ${B:-x} $${C} ${D:?set D}")]
    ['A', 'B', 'D']
    """

    key: str
    operator: str = ""
    argument: str = ""

    @property
    def has_default(self) -> bool:
        """Compose fills it from the default when the key is missing (``-``) or empty too (``:-``)."""
        return self.operator in (":-", "-")

    @property
    def needs_value(self) -> bool:
        """The key must be declared and not empty (``${KEY}``, ``${KEY:?...}``)."""
        return self.operator in ("", ":?")

    def value(self, declared: str | None) -> str | None:
        """What Compose makes of it when the key is ``declared`` (None: not declared); None when
        Compose would refuse it (``?``/``:?``) or would warn and use an empty string (``${KEY}``).

        >>> Reference("A", ":-", "d").value(""), Reference("A", "-", "d").value(""), Reference("A", "-", "d").value(None)
        ('d', '', 'd')
        >>> Reference("A", ":?", "need A").value(""), Reference("A", "?", "need A").value("")
        (None, '')
        """
        if self.operator == ":-":
            return declared or self.argument
        if self.operator == "-":
            return self.argument if declared is None else declared
        if self.operator == ":?":
            return declared or None
        return declared


def reference(match: re.Match) -> Reference:
    """The :class:`Reference` a match of one of this module's patterns stands for."""
    return Reference(match.group(1), match.group(2) or "", match.group(3) or "")


def references(text: str) -> list[Reference]:
    """Every reference in ``text`` (``$${`` literals left out)."""
    return [reference(m) for m in REFERENCE_RE.finditer(text) if m.group(1)]
