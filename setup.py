"""Packaging: the repository keeps ``checks/``, ``declare/`` and ``deploy/`` at its top (the layout
the users asked for); the wheel installs them as ``mooring.checks``, ``mooring.declare`` and
``mooring.deploy``, and mooring's own files (templates, images, examples, the scaffold's group data
and inventories) beside them, so an installed mooring has everything a checkout has."""

from pathlib import Path

from setuptools import find_packages, setup

LAYERS = ("checks", "declare", "deploy")
#: Folders shipped as data under the ``mooring`` package (``declare.paths.ROOT`` of an install).
DATA = ("templates", "images", "examples", "group_data", "inventories")


def _files_under(folder: str) -> list[str]:
    """Every file under ``folder`` (caches left out), relative to it."""
    return sorted(str(path.relative_to(folder)) for path in Path(folder).rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc")


packages = find_packages(include=["mooring", "mooring.*"])
package_dir = {}
for layer in LAYERS:
    packages += [f"mooring.{layer}", *(f"mooring.{layer}.{sub}" for sub in find_packages(layer))]
    package_dir[f"mooring.{layer}"] = layer
for folder in DATA:
    packages.append(f"mooring.{folder}")
    package_dir[f"mooring.{folder}"] = folder

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={f"mooring.{folder}": _files_under(folder) for folder in DATA},
    exclude_package_data={"": ["*.pyc"]},
)
