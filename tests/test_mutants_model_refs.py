"""References Compose could not fill (declare/model.py), host-free: the exact problem a user
reads (declared file, key path, message, fix) for an undeclared key and for an empty one under
``:?``. Written for the mutation run (docs/mutation.md)."""

from __future__ import annotations

import pytest

from mooring.declare.errors import ConfigError
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


def bootstrap_problems(world, **bootstrap):
    data = world.read("sandbox.yml")
    data["bootstrap"] = bootstrap
    world.write("sandbox.yml", data)
    from mooring.declare.model import build_model

    with pytest.raises(ConfigError) as info:
        build_model("docker-1", ["sandbox"]).bootstrap
    return [(p.path, p.message, p.fix) for p in info.value.problems]


def test_a_bad_authorized_key_names_its_line_and_the_format(world):
    from mooring.declare.model import KEY_FIX

    [(path, message, fix)] = bootstrap_problems(world, authorized_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA x@y"])
    assert (path, fix) == ("bootstrap.authorized_keys.0", KEY_FIX) and message.startswith("the key ")


def test_no_authorized_key_at_all_is_a_lock_out(world):
    assert bootstrap_problems(world, authorized_key_files=[]) == [(
        "bootstrap.authorized_keys",
        "no authorized key is declared: bootstrap would empty the deploy user's authorized_keys (lock-out)",
        "list public keys in bootstrap.authorized_keys or bootstrap.authorized_key_files, or declare "
        "bootstrap.allow_no_keys: true if nobody should log in as the deploy user")]
