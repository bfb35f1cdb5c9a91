"""The static rules, one module per family; importing this package registers every rule."""

from mooring.checks.rules import app, backups, consistency, env, mounts, production, render, secrets, services  # noqa: F401
