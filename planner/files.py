"""Writing files and folders whole or not at all: the one atomic writer for files, the one for
folders, and the one naming scheme for what they stage, so a later write can clean up what a
killed one left behind (:func:`clean_stale`).

Staged files are ``.<name>.tmp-<pid>-<random><suffix>``; staged folders
``.<name>.staging-<pid>-<random>``; a folder moved aside during a swap ``.<name>.old-<pid>-<random>``.
All live next to their target, so every swap is a rename on one file system.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PAUSE_ENV = "FRIENDSHORE_TEST_PAUSE_BEFORE_SWAP"
"""Tests only: seconds to sleep between staging and the swap, so a kill can land there."""
_STALE = re.compile(r"\.(?P<name>.+)\.(?P<kind>staging|old|tmp)-(?P<pid>\d+)-[A-Za-z0-9_]+(?:\.[A-Za-z0-9]+)?")


def _prefix(target: Path, kind: str) -> str:
    return f".{target.name}.{kind}-{os.getpid()}-"


def atomic_file(target: Path, write: Callable[[Path], None], mode: int | None = None) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``target``, then rename it onto ``target``;
    on any error the temporary file is removed and ``target`` is untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=_prefix(target, "tmp"), suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """A text file (UTF-8, readable by all, like a file written plainly), whole or not at all."""
    atomic_file(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=0o644)


def _finite(x: Any) -> Any:
    """JSON has no NaN or infinity: such numbers (e.g. a bound of -inf) are written as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def write_json(path: Path, data: dict) -> None:
    """Strict JSON (NaN and infinities become null), whole or not at all."""
    text = json.dumps(_finite(data), indent=2, sort_keys=False, default=str, allow_nan=False) + "\n"
    atomic_file(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=0o644)


_FIXED_TIME = "1980-01-01T00:00:00Z"
"""Creation/modification time written into .xlsx files (and their zip entries), so equal data give equal bytes."""


def fix_zip_times(path: Path) -> None:
    """Rewrite an .xlsx with fixed zip entry times and document-property dates (openpyxl stamps 'now')."""
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info)) for info in zin.infolist()]

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
            for info, data in entries:
                if info.filename == "docProps/core.xml":
                    data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                                  lambda m: m.group(1) + _FIXED_TIME.encode() + m.group(3), data)
                fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
                fixed.compress_type = zipfile.ZIP_DEFLATED
                fixed.external_attr = info.external_attr
                zout.writestr(fixed, data)

    atomic_file(Path(path), write)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process, or cannot tell: leave its files alone
        return True
    return True


def clean_stale(folder: Path, name: str | None = None) -> list[Path]:
    """Remove what killed writers left in ``folder`` (of target ``name`` only, if given): staged
    files and folders, and folders moved aside. Those of a process still running are left alone.
    If a writer was killed between its two renames (the target missing, the previous output moved
    aside), that previous output is put back instead of being removed. Returns what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale: list[tuple[str, str, Path]] = []
    with os.scandir(folder) as entries:  # cheap even next to thousands of study run folders
        for e in entries:
            m = _STALE.fullmatch(e.name) if e.name.startswith(".") else None
            if m and (name is None or m["name"] == name) and not _alive(int(m["pid"])):
                stale.append((m["name"], m["kind"], folder / e.name))
    removed = []
    for target in {n for n, kind, _ in stale if kind == "old"}:
        olds = sorted((p for n, kind, p in stale if kind == "old" and n == target), key=lambda p: p.stat().st_mtime)
        if not (folder / target).exists():
            os.replace(olds[-1], folder / target)  # the newest previous output
    for _, kind, p in stale:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
        elif p.exists():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _fsync(path: Path, folder: bool = False) -> None:
    """Flush ``path`` to disk; a file that cannot be flushed fails the write, a folder may not be
    openable at all on some platforms (then it is skipped)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """Flush staged files to disk before the swap, so a power cut cannot swap in empty files."""
    for p in folder.rglob("*"):
        if p.is_file():
            _fsync(p)


def _test_pause(stage: Path) -> None:
    seconds = os.environ.get(PAUSE_ENV)
    if seconds:
        print(f"{PAUSE_ENV}: staged {stage}; sleeping {seconds} s before the swap", file=sys.stderr, flush=True)
        time.sleep(float(seconds))


def staging_dir(target: Path) -> Path:
    """A new empty folder beside ``target``, named so :func:`clean_stale` knows it, with the mode
    ``target`` has (or a new folder's mode; mkdtemp alone would make it 0700)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=target.parent, prefix=_prefix(target, "staging")))
    if target.is_dir():
        os.chmod(stage, target.stat().st_mode & 0o7777)
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(stage, 0o777 & ~umask)
    return stage


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces ``target`` whole.

    On any error the staging folder is removed and ``target`` is untouched. The swap is two
    renames on one file system; a previous ``target`` is moved aside first and deleted only after
    the new one is in place. A kill leaves at most dot-prefixed staging/old folders next to
    ``target``; the next write to ``target`` cleans them up (:func:`clean_stale`).
    """
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target.parent, target.name)
    stage = staging_dir(target)
    try:
        yield stage
        _fsync_tree(stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _test_pause(stage)
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=_prefix(target, "old")))
        os.rmdir(old)
        os.replace(target, old)
    os.replace(stage, target)
    _fsync(target.parent, folder=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
