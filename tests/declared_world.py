"""A throw-away declared world for tests: a copy of group_data/, an inventory of fake hosts
(never contacted), a state folder with the sandbox key and the production/staging secrets.

    world = make_world(tmp_path)            # then point mooring at it:
    world.activate(monkeypatch)             # MOORING_GROUP_DATA, MOORING_STATE
    preflight_inventory(str(world.inventory))
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

INVENTORY = '''"""Test inventory: fake host names, never contacted (validation does not connect)."""
production = ["prod-1.example.invalid", "prod-2.example.invalid"]
staging = ["staging-1.example.invalid"]
sandbox = ["docker-1", "docker-2"]
'''
HOSTS = {"production": ["prod-1.example.invalid", "prod-2.example.invalid"],
         "staging": ["staging-1.example.invalid"], "sandbox": ["docker-1", "docker-2"]}
#: Strong test secrets (never dev defaults); staging and production get their own files.
SECRETS = {
    "production": {"POSTGRES_PASSWORD": "Prod0Pg4Pass9Word7Long", "JWT_SECRET": "Prod8Jwt2Secret6Value3X"},
    "staging": {"POSTGRES_PASSWORD": "Stag1Pg5Pass0Word8Long", "JWT_SECRET": "Stag9Jwt3Secret7Value4Y"},
}
SANDBOX_PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk5c3pQ6wq0p8m1TQmS0V8z9yJXo1X3j1n6cQq2vU9a sandbox@test\n"


@dataclass
class World:
    """Paths of one test world."""

    root: Path
    group_data: Path
    state: Path
    inventory: Path

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that validates this world (no MOORING_SECRET_* leaks in)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOORING_SECRET_")}
        env.update(MOORING_GROUP_DATA=str(self.group_data), MOORING_STATE=str(self.state))
        return env

    def activate(self, monkeypatch) -> None:
        """Point this process's mooring at the world."""
        for key in [k for k in os.environ if k.startswith("MOORING_SECRET_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("MOORING_GROUP_DATA", str(self.group_data))
        monkeypatch.setenv("MOORING_STATE", str(self.state))

    def layer(self, name: str) -> Path:
        """A layer file, e.g. "all.yml" or "hosts/prod-1.example.invalid.yml"."""
        return self.group_data / name

    def read(self, name: str) -> dict[str, Any]:
        path = self.layer(name)
        return yaml.safe_load(path.read_text()) or {} if path.exists() else {}

    def write(self, name: str, data: dict[str, Any]) -> None:
        path = self.layer(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def drop_stack(self, *layers: str) -> None:
        """Remove ``stack:`` from each of ``layers`` (a host that declares no stack)."""
        for name in layers:
            data = self.read(name)
            data.pop("stack", None)
            self.write(name, data)

    def set_secret(self, environment: str, name: str, value: str | None) -> None:
        """Set (or with None remove) one secret in the environment's dotenv file."""
        from mooring.declare.secrets import format_dotenv, parse_dotenv

        path = self.state / "secrets" / f"{environment}.env"
        values = parse_dotenv(path.read_text()) if path.exists() else {}
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
        path.write_text(format_dotenv(values))
        path.chmod(0o600)  # mooring refuses a secrets file others may read


def make_world(tmp: Path) -> World:
    """Copy group_data/ and write the inventory, the sandbox key and the secrets files."""
    world = World(tmp, tmp / "group_data", tmp / "state", tmp / "inventory" / "test_hosts.py")
    shutil.copytree(ROOT / "group_data", world.group_data, ignore=shutil.ignore_patterns("__pycache__"))
    world.inventory.parent.mkdir(parents=True)
    world.inventory.write_text(INVENTORY)
    (world.state / "sandbox").mkdir(parents=True)
    (world.state / "sandbox" / "id_ed25519.pub").write_text(SANDBOX_PUBKEY)
    (world.state / "secrets").mkdir(mode=0o700)
    for environment, values in SECRETS.items():
        world.set_secret(environment, "POSTGRES_PASSWORD", values["POSTGRES_PASSWORD"])
        world.set_secret(environment, "JWT_SECRET", values["JWT_SECRET"])
    return world


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in nested mappings, creating the missing ones."""
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def delete_path(data: dict[str, Any], dotted: str) -> None:
    """Remove ``a.b.c`` when present."""
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.get(part, {})
        if not isinstance(node, dict):
            return
    node.pop(parts[-1], None)


def run_validate(world: World, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``mooring validate`` in a subprocess against the world (through the CLI when it is registered)."""
    from mooring.commands import COMMAND_MODULES

    command = [PYTHON, "-m", "mooring", "validate"] if "validate" in COMMAND_MODULES else \
        [PYTHON, "-m", "mooring.commands.validate"]
    env = world.env()
    env.update(extra_env or {})
    return subprocess.run([*command, str(world.inventory), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL)


def model_for(environment: str):
    """The model of the first test host of ``environment`` (in an activated world)."""
    from mooring.declare.model import build_model

    return build_model(HOSTS[environment][0], [environment])

