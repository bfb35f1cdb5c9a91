"""Rollback: put back the release a failed deploy replaced, or one an operator names.

Run by ``mooring deploy`` for hosts whose new release failed, with ``MOORING_RUN_DIR`` set: the
command's verdict left there names the release to restore, the release number this run saved
(marked ``-failed`` by number) and whether any container changed. The restored release's secret
files are its masked copies filled with the secrets declared now (the release keeps none).

On demand, ``--data mooring_rollback_to=N`` (or ``previous``: the good release that was live before
the current one, from the ``replaces`` line of releases) names the release to restore and makes it
current; ``--data mooring_rollback_force=1`` allows a release marked failed; ``--data mooring_rollback_migrate_down=1`` first runs the declared
``stack.migration.down`` of the current release, in its image, when that release ran migrations.
``mooring rollback`` runs it so,
under the stack's deploy lock, then gates and records it like a deploy; by hand:

    pyinfra inventories/sandbox.py deploy/rollback.py --limit docker-1 --data mooring_rollback_to=3
"""

from pyinfra import host
from pyinfra.facts.files import File

from mooring.deploy.facts.releases import Release, ReleaseHistory, Releases
from mooring.deploy.operations import stack
from mooring.deploy.operations.compose import fail_host_op
from mooring.deploy.roles.stack import http_base_for, probe_specs, take_lock
from mooring.declare.model import host_model
from mooring.declare.render import declared_secrets, render_stack
from mooring.deploy.plan import RollbackResult, Verdict, read_host_plan, run_dir, run_id, write_host_plan


def on_demand_target(wanted: object, history: ReleaseHistory) -> tuple[int | None, str]:
    """The release an on-demand rollback restores, or None and why not."""
    if str(wanted) == "previous":
        found = history.previous_good()
        return (found.number, "") if found else (None, "no good release older than the current one is kept")
    if not str(wanted).isdigit():
        return None, f"mooring_rollback_to={wanted!r} is not a release number (nor 'previous')"
    return int(str(wanted)), ""


def migrated_release(history: ReleaseHistory, directory: str, target: int, force: bool) -> Release | None:
    """The current release when it applied migrations (its ``migrated-<id>`` marker) that
    restoring ``target`` rolls back past, else None. Only a target ``stack.rolled_back`` will
    restore counts (kept; not failed, or ``force``): only then may a down-migration run first."""
    current, restored = history.current_release(), history.by_number(target)
    if current is None or restored is None or current.release_id == restored.release_id:
        return None
    if restored.failed and not force:
        return None
    return current if host.get_fact(File, path=f"{directory}/releases/migrated-{current.release_id}") else None


def migration_warning(migrated: Release, target: int, down: list[str] | None) -> str:
    """What rolling back past ``migrated`` does to the database: its declared down-migration
    ran (``down``), or nothing undid what its migrations changed."""
    if down:
        return (f"release {migrated.number} ran its database migrations; its down-migration ran before release "
                f"{target} was put back: {' '.join(down)}")
    return (f"release {migrated.number} ran its database migrations; rolling back to release {target} does not "
            "undo what they changed (declare stack.migration.down and add --migrate-down, or restore a backup, "
            "if the older code needs it)")


model = host_model(host)
verdict = read_host_plan(host.name, "verdict", Verdict) or Verdict()
if model.stack is not None:
    wanted = host.data.get("mooring_rollback_to")
    force = wanted is not None and str(host.data.get("mooring_rollback_force")) == "1"
    target, refused, warning = verdict.roll_back_to, "", ""
    rendered = render_stack(model)
    mounts: dict[str, list[str]] = {}
    for item in rendered.files:
        if item.used_by:
            mounts[item.path] = list(item.used_by)
    if wanted is not None:
        history = host.get_fact(Releases, directory=model.stack.dir)
        target, refused = on_demand_target(wanted, history)
        if target is not None and run_dir() is not None:  # mooring rollback: under the deploy lock
            refused = take_lock(model.stack, [item.path for item in rendered.files]) or ""
        migrated = None if target is None or refused else migrated_release(history, model.stack.dir, target, force)
        asked = str(host.data.get("mooring_rollback_migrate_down")) == "1"
        down = model.stack.migration.down if asked and model.stack.migration else None
        if asked and not down and not refused:
            refused = ("--migrate-down: stack.migration.down is not declared for this host (declare the command "
                       "that undoes a release's migrations, e.g. down: [alembic, downgrade, '-1'])")
        if migrated is not None and not refused:
            warning = migration_warning(migrated, target, down)
            if down:
                stack.migrated_down(name=f"Down-migration of release {migrated.number}", directory=model.stack.dir,
                                    project=model.stack.name, service=model.stack.migration.service, command=down,
                                    release_id=migrated.release_id)

    if refused:
        target = None
        fail_host_op(name="Roll back", message=refused)
    elif target is not None:
        stack.rolled_back(name=f"Roll back to release {target}", directory=model.stack.dir,
                          project=model.stack.name, number=target, run=run_id(), failed_number=verdict.failed,
                          containers_touched=verdict.containers_touched, mounts=mounts,
                          make_current=wanted is not None, secrets=declared_secrets(model.stack),
                          force=force)
    elif verdict.failed is not None:
        stack.marked_failed(name="Mark the failed release", directory=model.stack.dir, number=verdict.failed)
    kept = verdict.failed is not None and host.get_fact(Releases, directory=model.stack.dir).by_number(
        verdict.failed) is not None
    write_host_plan(host.name, "rollback", RollbackResult(target=target, failed_release=verdict.failed,
                                                          failed_release_kept=kept, warning=warning,
                                                          http_base=http_base_for(model.stack),
                                                          health=probe_specs(model.stack.health, model.stack.http_port)))
