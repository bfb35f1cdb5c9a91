"""References Compose could not fill (declare/model.py), host-free: the exact problem a user
reads (declared file, key path, message, fix) for an undeclared key and for an empty one under
``:?``. Written for the mutation run (docs/mutation.md)."""

from __future__ import annotations

import pytest

from declare.errors import ConfigError
from tests.declared_world import model_for


def test_unfilled_references_name_their_file_key_and_fix(world):
    data = world.read("sandbox.yml")
    data["stack"]["env"].update({"EMPTY_ONE": "", "A_URL": "x${EMPTY_ONE:?}y", "B_URL": "${EMPTY_ONE:?set it}",
                                 "C_URL": "${NOPE_KEY}", "D_URL": "${NOPE_KEY:?needed}"})
    world.write("sandbox.yml", data)
    common = world.read("all.yml")
    common["stack"]["env"]["E_URL"] = "${NOPE_KEY}"
    world.write("all.yml", common)
    with pytest.raises(ConfigError) as info:
        model_for("sandbox").stack
    sandbox = str(world.group_data / "sandbox.yml")
    undeclared_fix = ("declare NOPE_KEY in stack.env, give it a default (${NOPE_KEY:-...}), or write $${NOPE_KEY} for "
                      "a literal ${NOPE_KEY}")
    assert [(p.file, p.path, p.message, p.fix) for p in info.value.problems] == [
        (str(world.group_data / "all.yml"), "stack.env.E_URL", "references ${NOPE_KEY}, which stack.env does not declare",
         undeclared_fix),
        (sandbox, "stack.env.A_URL", "references ${EMPTY_ONE:?}, but EMPTY_ONE is empty",
         "give EMPTY_ONE a value in stack.env (Compose refuses it empty)"),
        (sandbox, "stack.env.B_URL", "references ${EMPTY_ONE:?set it}, but EMPTY_ONE is empty",
         "give EMPTY_ONE a value in stack.env (set it)"),
        (sandbox, "stack.env.C_URL", "references ${NOPE_KEY}, which stack.env does not declare", undeclared_fix),
        (sandbox, "stack.env.D_URL", "references ${NOPE_KEY:?needed}, which stack.env does not declare (needed)",
         undeclared_fix),
    ]
