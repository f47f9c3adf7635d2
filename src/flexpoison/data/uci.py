"""The two UCI files of the paper's experiments: where they are found, fetched, parsed.

Where they are looked for: :func:`load_dataset` reads ``ccpp/Folds5x2_pp.csv`` and
``airquality/AirQualityUCI.csv`` under the first that applies of (1) the ``data_dir``
argument, (2) the folder in ``FLEXPOISON_DATA_DIR``, (3) the per-user cache
(``pooch.os_cache("flexpoison")``, or ``FLEXPOISON_CACHE_DIR``), (4) with
``download=True``, a download from the UCI repository into that cache. A folder given
by (1) or (2) is authoritative: a file missing there is reported, not looked for in the
cache or on the network.

Every file is checked against the SHA-256 of the reference copy (:data:`REGISTRY`)
before it is parsed; ``verify=False`` skips that for a deliberately modified copy (the
format checks still apply). A downloaded file is always checked and is cached only if
it matches.

Downloads: ``UCI_BASE_URL`` + ``RemoteFile.url_path`` (``FLEXPOISON_DATA_URL`` replaces
the base, for a mirror or a test server). Air Quality's zip (``360/air+quality.zip``)
holds the CSV unchanged: it is extracted with :class:`pooch.Unzip` and the CSV's
SHA-256 checked (the zip's own digest is not pinned: UCI re-packs its archives). CCPP's
zip holds only ``.xlsx``/``.ods`` workbooks, which flexpoison does not read, so CCPP is
never downloaded: without a local copy the loader raises :class:`DataError` saying how
to provide the CSV.

Parsing is strict: a wrong header, a row with the wrong number of fields, a value that
is not a number, or a truncated file raises :class:`DataError` naming the file, the
line and the problem. A data set is returned whole or not at all.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from .dataset import DataError

#: Base of the download URLs; ``FLEXPOISON_DATA_URL`` overrides it.
UCI_BASE_URL = "https://archive.ics.uci.edu/static/public/"

ENV_DATA_DIR = "FLEXPOISON_DATA_DIR"
ENV_CACHE_DIR = "FLEXPOISON_CACHE_DIR"
ENV_DATA_URL = "FLEXPOISON_DATA_URL"


# --------------------------------------------------------------------------
# Registry of the UCI files
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFile:
    """Where a UCI file lives locally and remotely, and its reference digest.

    Parameters
    ----------
    path : str
        Location relative to a data folder or the cache, with ``/``
        separators, e.g. ``"airquality/AirQualityUCI.csv"``.
    sha256 : str
        SHA-256 of the reference CSV (hex). Always checked for downloads.
    url_path : str
        Download location relative to the base URL (:data:`UCI_BASE_URL`
        or ``FLEXPOISON_DATA_URL``).
    archive_sha256 : str or None
        SHA-256 of the downloaded zip, or None when it is not pinned (the
        extracted CSV is still checked against `sha256`).
    member : str or None
        Name of the CSV inside the zip, or None when the archive holds no CSV
        flexpoison can read (the file then cannot be downloaded).
    title : str
        Human-readable name used in messages.
    """

    path: str
    sha256: str
    url_path: str
    archive_sha256: str | None
    member: str | None
    title: str

    @property
    def filename(self) -> str:
        """Base name of the CSV file."""
        return self.path.rsplit("/", 1)[-1]


_REGISTRY: dict[str, RemoteFile] = {
    "ccpp": RemoteFile(
        path="ccpp/Folds5x2_pp.csv",
        sha256="18d3af05bc856b77d58301cb6ddfd2d8dd5d6e1fd7e422278a7f774182163d71",
        url_path="294/combined+cycle+power+plant.zip",
        archive_sha256=None,
        member=None,  # the zip holds only Folds5x2_pp.xlsx / .ods: not read
        title="Combined Cycle Power Plant",
    ),
    "airquality": RemoteFile(
        path="airquality/AirQualityUCI.csv",
        sha256="13277ae5d8581e80b7be09d47c7d3d06fe9b8e957078f2cf6e859f955e62f996",
        url_path="360/air+quality.zip",
        archive_sha256=None,
        member="AirQualityUCI.csv",
        title="Air Quality",
    ),
}

#: The UCI files, by data set name (read-only).
REGISTRY: Mapping[str, RemoteFile] = MappingProxyType(_REGISTRY)


def cache_dir() -> Path:
    """Folder where downloaded data files are kept.

    Returns
    -------
    pathlib.Path
        ``FLEXPOISON_CACHE_DIR`` if that environment variable is set and not
        empty, else ``pooch.os_cache("flexpoison")``. The folder may not exist
        yet.
    """
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("flexpoison"))


# --------------------------------------------------------------------------
# Locating and downloading the UCI files
# --------------------------------------------------------------------------


def how_to_provide(entry: RemoteFile) -> str:
    return (
        f"Put the file at <DIR>/{entry.path} and pass data_dir=<DIR> (CLI: "
        f"--data-dir <DIR>) or set the environment variable {ENV_DATA_DIR}=<DIR>."
    )


def where_to_get(entry: RemoteFile) -> str:
    """Where the file comes from: the UCI archive (and what to take from it)."""
    if entry.member is None:
        return (
            f"UCI ships it only as xlsx/ods workbooks in {_url(entry)}; the reference "
            "CSV is Folds5x2_pp.csv in the GitHub repository "
            "chuanzhang1990/power_plant_operation (commit 553702f5)."
        )
    return f"It is {entry.member} in the UCI archive {_url(entry)}."


def find_file(
    key: str,
    *,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
    origin: str = "the data_dir argument",
) -> tuple[Path, bool]:
    """Locate a UCI file, downloading it into the cache if allowed.

    Returns the path and whether it is in the cache. ``origin`` names where
    ``data_dir`` came from, for the message when the file is not there (the command
    line's ``--data-dir`` may come from the environment).
    """
    entry = _REGISTRY[key]
    env_dir = os.environ.get(ENV_DATA_DIR)
    if data_dir is not None or env_dir:
        if data_dir is not None:
            base = Path(data_dir).expanduser()
        else:
            base, origin = Path(env_dir).expanduser(), f"${ENV_DATA_DIR}"  # type: ignore[arg-type]
        candidate = base / entry.path
        if candidate.is_file():
            return candidate, False
        where = "" if base.is_dir() else f" (the folder {base} does not exist)"
        raise DataError(
            f"{entry.title} data file {entry.filename} not found at {candidate}"
            f"{where}; the folder comes from {origin}. {where_to_get(entry)} "
            f"{how_to_provide(entry)}"
        )

    cache = cache_dir()
    cached = cache / entry.path
    if cached.is_file():
        return cached, True

    if entry.member is None:
        url = _url(entry)
        raise DataError(
            f"{entry.title} data file {entry.filename} not found (looked in the "
            f"cache: {cached}; no data_dir argument, {ENV_DATA_DIR} not set). "
            f"It cannot be downloaded: the UCI archive {url} ships it only as "
            "xlsx/ods workbooks, which flexpoison does not read. The reference "
            f"CSV (sha256 {entry.sha256}) is the export of Sheet1 published as "
            "Folds5x2_pp.csv in the GitHub repository "
            "chuanzhang1990/power_plant_operation (commit 553702f5). A CSV you "
            "export from Sheet1 yourself holds the same values but will not "
            "match that checksum: load it with verify=False. "
            f"{how_to_provide(entry)}"
        )
    if not download:
        raise DataError(
            f"{entry.title} data file {entry.filename} not found (looked in the "
            f"cache: {cached}; no data_dir argument, {ENV_DATA_DIR} not set) and "
            f"downloads are disabled (download=False). {how_to_provide(entry)} "
            f"Or allow the download from {_url(entry)} into the cache "
            f"({ENV_CACHE_DIR} sets its location)."
        )
    _download(entry, cache)
    return cached, True


def _url(entry: RemoteFile) -> str:
    base = os.environ.get(ENV_DATA_URL) or UCI_BASE_URL
    return base.rstrip("/") + "/" + entry.url_path.lstrip("/")


_STAGE_PREFIX = ".download-"


def _remove_stale_downloads(cache: Path) -> None:
    """Remove ``.download-PID-*`` folders of processes that no longer run (a download
    killed before it could clean up), and unnamed ones older than a day."""
    import time

    for folder in cache.glob(f"{_STAGE_PREFIX}*"):
        pid_text = folder.name[len(_STAGE_PREFIX) :].split("-", 1)[0]
        if pid_text.isdigit():
            stale = not _running(int(pid_text))
        else:
            try:
                stale = time.time() - folder.stat().st_mtime > 86_400
            except OSError:
                continue
        if stale and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether a process with this id runs (on this machine)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists, but is not ours
    return True


def _download(entry: RemoteFile, cache: Path) -> None:
    """Download `entry`'s archive, extract and verify the CSV, move it into `cache`.

    Works in a private temporary folder inside `cache`, removed afterwards, so
    that only a verified CSV ever lands at ``cache / entry.path`` (atomically,
    with :func:`os.replace`), even with concurrent downloads. The folder's name
    carries the process id: folders left by a process that no longer runs (killed
    mid-download) are removed first (:func:`_remove_stale_downloads`).
    """
    import pooch

    assert entry.member is not None
    url = _url(entry)
    target = cache / entry.path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_downloads(cache)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_STAGE_PREFIX}{os.getpid()}-", dir=cache))
    except OSError as exc:
        raise DataError(
            f"cannot create the cache folder {target.parent} for {entry.filename}: "
            f"{exc}. Set {ENV_CACHE_DIR} to a writable folder. "
            f"{how_to_provide(entry)}"
        ) from exc
    try:
        archive_name = entry.url_path.rsplit("/", 1)[-1] or "archive.zip"
        known = f"sha256:{entry.archive_sha256}" if entry.archive_sha256 else None
        try:
            pooch.retrieve(
                url,
                known_hash=known,
                fname=archive_name,
                path=tmp,
                processor=pooch.Unzip(members=[entry.member], extract_dir="extracted"),
                progressbar=False,
            )
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataError(
                f"could not download {entry.title} ({entry.filename}) from {url}: "
                f"{exc}. {how_to_provide(entry)}"
            ) from exc
        extracted = tmp / "extracted" / entry.member
        if not extracted.is_file():
            raise DataError(
                f"the archive downloaded from {url} has no member {entry.member!r}; "
                f"nothing was stored in the cache. {how_to_provide(entry)}"
            )
        actual = _sha256(extracted.read_bytes())
        if actual != entry.sha256:
            raise DataError(
                f"{entry.member} downloaded from {url} failed the checksum: "
                f"expected sha256 {entry.sha256}, got {actual}. It was discarded; "
                f"nothing was stored in the cache {cache}. {how_to_provide(entry)}"
            )
        os.replace(extracted, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


__all__ = [
    "UCI_BASE_URL",
    "RemoteFile",
    "REGISTRY",
    "cache_dir",
    "find_file",
    "how_to_provide",
    "where_to_get",
]
