"""Where a result comes from: the versions of everything that can change a number, and the lock
the installation was made with. Every run record (solve, stress, network, study run) carries both."""

from __future__ import annotations

import platform
from importlib import metadata
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    return tuple(_read_versions().items())


def versions() -> dict[str, str]:
    """The versions every run records (read once per process: they cannot change under it)."""
    return dict(_versions())


def _read_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    # Everything whose version can change a number or a byte of the outputs.
    for pkg in ("friendshore", "pyomo", "highspy", "pandas", "pydantic", "numpy", "pyarrow", "openpyxl", "pyyaml"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    from planner.solve.highs import highs_version

    out["highs"] = highs_version()
    return out


def lock_record() -> dict[str, Any]:
    """The lock shipped with this installation and how the installed packages compare with it.

    ``sha256`` identifies the lock (requirements.lock, packaged as planner/requirements.lock);
    ``matches`` is true when every locked package that applies here is installed at its locked
    version, and ``differs`` lists the others (locked and installed versions): a run made with the
    lock reproduces exactly; a run with ``matches: false`` used other versions."""
    import hashlib
    from importlib import resources

    from packaging.requirements import InvalidRequirement, Requirement

    try:
        text = resources.files("planner").joinpath("requirements.lock").read_bytes()
    except (FileNotFoundError, OSError):
        return {"file": "requirements.lock", "sha256": None, "matches": False, "differs": {},
                "note": "no lock shipped with this installation"}
    differs: dict[str, dict[str, str | None]] = {}
    for line in text.decode("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        locked = next((sp.version for sp in req.specifier if sp.operator == "=="), None)
        try:
            have: str | None = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            have = None
        if have is not None and have != locked:  # not installed: an extra this installation does not use
            differs[req.name] = {"locked": locked, "installed": have}
    return {"file": "requirements.lock", "sha256": hashlib.sha256(text).hexdigest(), "matches": not differs,
            "differs": differs}


def provenance(*, name: str, instance_path: str, files_hash: str, instance_hash: str, overrides: dict[str, Any],
               variant: str | None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The part of every run.json (solve, stress, network, study run) that says where the result
    comes from: the instance (as given and absolute, with the input files' and the instance's
    hashes), the variant, the overrides as data, the solver options, the versions and the lock."""
    from pathlib import Path

    return {
        "instance": {"name": name, "path": instance_path, "abs_path": str(Path(instance_path).resolve()),
                     "files_sha256": files_hash, "instance_sha256": instance_hash},
        "variant": variant,
        "overrides": overrides,
        **({"options": options} if options is not None else {}),
        "versions": versions(),
        "lock": dict(_lock_once()),
    }


@lru_cache(maxsize=1)
def _lock_once() -> dict[str, Any]:
    """lock_record, read once per process for the run records: neither the lock nor the installed
    packages change under a running process (a study or the explorer records many runs)."""
    return lock_record()
