"""Tests for flexpoison.data: the paper's data sets (loaders, UCI files, readers).

The UCI files are read from ``$FLEXPOISON_DATA_DIR``, else ``<repo>/../shared/data``
(CI clones the repository beside ``shared/``; conftest.SHARED_DATA); the tests that
need them are skipped when it is absent.
Downloads are tested against a real HTTP server on 127.0.0.1; no test reaches
the Internet or the user's real cache.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import shutil
import threading
import zipfile
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA
from flexpoison.data import DATASETS, DataError, Dataset, load_dataset, uci
from flexpoison.data.readers import read_airquality, read_ccpp
from flexpoison.data.uci import REGISTRY
from flexpoison.errors import FlexPoisonError

CCPP_FILE = SHARED_DATA / "ccpp" / "Folds5x2_pp.csv"
AQ_FILE = SHARED_DATA / "airquality" / "AirQualityUCI.csv"

needs_data = pytest.mark.skipif(
    not (CCPP_FILE.is_file() and AQ_FILE.is_file()),
    reason=f"shared data files not found under {SHARED_DATA} "
    "(set FLEXPOISON_DATA_DIR, or put shared/data beside the repository)",
)

CCPP_ROWS = 9_568
AQ_RAW_ROWS = 9_357
AQ_KEPT_ROWS = 8_991  # measured: 366 rows miss all nine used values at once
AQ_MISSING_ROWS = AQ_RAW_ROWS - AQ_KEPT_ROWS


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test sees the caller's data dir or cache, nor reaches the Internet."""
    monkeypatch.delenv("FLEXPOISON_DATA_DIR", raising=False)
    monkeypatch.setenv("FLEXPOISON_CACHE_DIR", str(tmp_path / "cache"))
    # Port 9 (discard) on loopback: any accidental download fails fast.
    monkeypatch.setenv("FLEXPOISON_DATA_URL", "http://127.0.0.1:9/")


def _copy_tree(dst: Path) -> Path:
    """A writable copy of the shared data folder layout under `dst`."""
    for src in (CCPP_FILE, AQ_FILE):
        target = dst / src.parent.name / src.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    return dst


# --------------------------------------------------------------------------
# Loading the real files
# --------------------------------------------------------------------------


@needs_data
def test_ccpp_contents():
    ds = load_dataset("ccpp", data_dir=SHARED_DATA)
    assert isinstance(ds, Dataset)
    assert ds.name == "ccpp" and ds.task == "regression"
    assert ds.X.shape == (CCPP_ROWS, 4) and ds.y.shape == (CCPP_ROWS,)
    assert ds.X.dtype == np.float64 and ds.y.dtype == np.float64
    assert ds.feature_names == ("AT", "V", "AP", "RH")
    assert ds.target_name == "PE"
    np.testing.assert_array_equal(ds.X[0], [14.96, 41.76, 1024.07, 73.17])
    assert ds.y[0] == 463.26
    np.testing.assert_array_equal(ds.X[-1], [21.6, 62.52, 1017.23, 67.87])
    assert ds.y[-1] == 453.28
    # Ranges documented in the data README (and by UCI).
    np.testing.assert_array_equal(ds.X.min(axis=0), [1.81, 25.36, 992.89, 25.56])
    np.testing.assert_array_equal(ds.X.max(axis=0), [37.11, 81.56, 1033.30, 100.16])
    assert (ds.y.min(), ds.y.max()) == (420.26, 495.76)
    assert np.isfinite(ds.X).all() and np.isfinite(ds.y).all()
    for words in ("10.24432/C5002N", "CC BY 4.0", "9,568", "41 rows"):
        assert words in ds.description


@needs_data
def test_airquality_raw_rows_and_missing_values():
    raw = read_airquality(AQ_FILE, drop_missing=False)
    assert raw.X.shape == (AQ_RAW_ROWS, 8) and raw.y.shape == (AQ_RAW_ROWS,)
    # -200 became NaN: 366 in each used column, all in the same 366 rows.
    np.testing.assert_array_equal(np.isnan(raw.X).sum(axis=0), [366] * 8)
    assert np.isnan(raw.y).sum() == 366
    missing = np.isnan(raw.X).any(axis=1) | np.isnan(raw.y)
    assert missing.sum() == AQ_MISSING_ROWS == 366
    assert (np.isnan(raw.X).all(axis=1) & np.isnan(raw.y))[missing].all()
    assert "n_raw=9357" in raw.description
    assert not (raw.X == -200).any() and not (raw.y == -200).any()


@needs_data
def test_airquality_contents():
    ds = load_dataset("airquality", data_dir=SHARED_DATA)
    assert ds.name == "airquality" and ds.task == "regression"
    assert ds.X.shape == (AQ_KEPT_ROWS, 8) and ds.y.shape == (AQ_KEPT_ROWS,)
    assert ds.X.dtype == np.float64 and ds.y.dtype == np.float64
    assert ds.feature_names == (
        "PT08.S1(CO)", "PT08.S2(NMHC)", "PT08.S3(NOx)", "PT08.S4(NO2)",
        "PT08.S5(O3)", "T", "RH", "AH",
    )  # fmt: skip
    assert ds.target_name == "C6H6(GT)"
    assert np.isfinite(ds.X).all() and np.isfinite(ds.y).all()
    assert not (ds.X == -200).any() and not (ds.y == -200).any()
    # First and last lines of the file (decimal commas parsed).
    np.testing.assert_array_equal(ds.X[0], [1360, 1046, 1056, 1692, 1268, 13.6, 48.9, 0.7578])
    assert ds.y[0] == 11.9
    np.testing.assert_array_equal(ds.X[-1], [1071, 1047, 654, 1129, 816, 28.5, 13.1, 0.5028])
    assert ds.y[-1] == 11.9
    # T is the only column with genuine negative values (min -1.9 °C).
    assert ds.X[:, 5].min() == -1.9
    assert (np.delete(ds.X, 5, axis=1) >= 0).all() and (ds.y >= 0).all()
    for words in ("10.24432/C59K5F", "CC BY 4.0", "9,357", "366", "8,991"):
        assert words in ds.description


@pytest.mark.parametrize(
    ("name", "shape", "classes"),
    [("iris", (150, 4), [0, 1, 2]), ("breast_cancer", (569, 30), [0, 1])],
)
def test_sklearn_datasets(name, shape, classes):
    ds = load_dataset(name)
    assert ds.name == name and ds.task == "classification"
    assert ds.X.shape == shape and ds.X.dtype == np.float64
    assert ds.y.dtype == np.int64 and ds.y.shape == (shape[0],)
    assert sorted(np.unique(ds.y)) == classes
    assert len(ds.feature_names) == shape[1]
    assert "CC BY 4.0" in ds.description and "10.24432/" in ds.description


def test_names_and_unknown_name():
    assert DATASETS == ("ccpp", "airquality", "iris", "breast_cancer")
    assert load_dataset("Breast-Cancer").name == "breast_cancer"
    with pytest.raises(DataError, match="unknown data set 'mnist'.*ccpp, airquality"):
        load_dataset("mnist")
    assert issubclass(DataError, ValueError)
    assert issubclass(DataError, FlexPoisonError)


def test_dataset_validates_its_fields():
    X = np.zeros((3, 2))
    with pytest.raises(DataError, match="int64"):
        Dataset("t", X, np.zeros(3), ("a", "b"), "y", "classification", "")
    with pytest.raises(DataError, match="1 feature names for 2 columns"):
        Dataset("t", X, np.zeros(3), ("a",), "y", "regression", "")
    with pytest.raises(DataError, match="3 rows but y has 2"):
        Dataset("t", X, np.zeros(2), ("a", "b"), "y", "regression", "")


# --------------------------------------------------------------------------
# Where files are looked for
# --------------------------------------------------------------------------


@needs_data
def test_env_data_dir(monkeypatch):
    monkeypatch.setenv("FLEXPOISON_DATA_DIR", str(SHARED_DATA))
    assert load_dataset("ccpp", download=False).X.shape == (CCPP_ROWS, 4)
    assert load_dataset("airquality", download=False).X.shape == (AQ_KEPT_ROWS, 8)


@needs_data
def test_data_dir_argument_wins_over_env_and_is_authoritative(monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("FLEXPOISON_DATA_DIR", str(empty))
    assert load_dataset("ccpp", data_dir=SHARED_DATA).X.shape == (CCPP_ROWS, 4)
    # A given folder without the file is an error, not a silent fallback.
    monkeypatch.setenv("FLEXPOISON_DATA_DIR", str(SHARED_DATA))
    with pytest.raises(DataError) as err:
        load_dataset("airquality", data_dir=empty)
    msg = str(err.value)
    assert str(empty / "airquality" / "AirQualityUCI.csv") in msg
    assert "data_dir argument" in msg
    # The env folder is authoritative too.
    monkeypatch.setenv("FLEXPOISON_DATA_DIR", str(empty))
    with pytest.raises(DataError, match="FLEXPOISON_DATA_DIR"):
        load_dataset("airquality")


@needs_data
def test_cache_is_used(tmp_path):
    _copy_tree(tmp_path / "cache")  # FLEXPOISON_CACHE_DIR points here
    assert load_dataset("airquality", download=False).X.shape == (AQ_KEPT_ROWS, 8)
    assert uci.cache_dir() == tmp_path / "cache"
    # A damaged cached copy is refused, with a hint to delete it.
    cached = tmp_path / "cache" / "airquality" / "AirQualityUCI.csv"
    cached.write_bytes(cached.read_bytes()[:1000])
    with pytest.raises(DataError, match="checksum mismatch.*delete it"):
        load_dataset("airquality")


def test_offline_and_nothing_available(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("airquality", download=False)
    msg = str(err.value)
    assert "AirQualityUCI.csv" in msg
    assert str(tmp_path / "cache" / "airquality" / "AirQualityUCI.csv") in msg
    assert "download=False" in msg
    assert "FLEXPOISON_DATA_DIR" in msg and "data_dir" in msg and "--data-dir" in msg
    assert not (tmp_path / "cache").exists()


def test_ccpp_is_never_downloaded(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("ccpp", download=True)  # would hit 127.0.0.1:9 if it tried
    msg = str(err.value)
    assert "Folds5x2_pp.csv" in msg and "xlsx" in msg
    assert "FLEXPOISON_DATA_DIR" in msg and "verify=False" in msg
    assert not (tmp_path / "cache").exists()


# --------------------------------------------------------------------------
# Refusals on damaged copies
# --------------------------------------------------------------------------


def _mutate(src: Path, dst: Path, fn) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(fn(src.read_bytes()))
    return dst


def _replace_line(data: bytes, index: int, new: bytes) -> bytes:
    lines = data.split(b"\r\n")
    lines[index] = new
    return b"\r\n".join(lines)


@needs_data
def test_checksum_mismatch_is_refused_unless_verify_false(tmp_path):
    # Same length, one digit changed: 14.96 -> 15.96 in the first data row.
    bad = _mutate(
        CCPP_FILE,
        tmp_path / "d" / "ccpp" / "Folds5x2_pp.csv",
        lambda b: b.replace(b"\r\n14.96,", b"\r\n15.96,", 1),
    )
    actual = hashlib.sha256(bad.read_bytes()).hexdigest()
    with pytest.raises(DataError) as err:
        load_dataset("ccpp", data_dir=tmp_path / "d")
    msg = str(err.value)
    assert str(bad) in msg and "checksum" in msg
    assert REGISTRY["ccpp"].sha256 in msg and actual in msg
    ds = load_dataset("ccpp", data_dir=tmp_path / "d", verify=False)
    assert ds.X[0, 0] == 15.96 and ds.X.shape == (CCPP_ROWS, 4)


@needs_data
@pytest.mark.parametrize("src", [CCPP_FILE, AQ_FILE], ids=["ccpp", "airquality"])
def test_truncated_file_is_refused(tmp_path, src):
    reader = read_ccpp if src == CCPP_FILE else read_airquality
    data = src.read_bytes()
    cut = _mutate(src, tmp_path / src.name, lambda b: b[: len(b) // 2])
    with pytest.raises(DataError, match="checksum mismatch"):
        reader(cut)
    # Even without the checksum, a cut in mid-line is detected.
    n_lines = data[: len(data) // 2].count(b"\n") + 1
    with pytest.raises(DataError, match=rf"line {n_lines}: .*truncated") as err:
        reader(cut, verify=False)
    assert str(cut) in str(err.value)


@needs_data
@pytest.mark.parametrize(
    ("src", "header", "problem"),
    [
        (CCPP_FILE, b"\xef\xbb\xbfAT,V,AP,RH,EP", "missing: PE; unexpected: EP"),
        (CCPP_FILE, b"AT,V,AP,RH", "missing: PE"),
        (CCPP_FILE, b"AT,AP,V,RH,PE", "columns out of order"),
        (CCPP_FILE, b"AT,V,AP,RH,PE,PE", "duplicate or extra columns"),
        (
            AQ_FILE,
            b"Date;Time;CO(GT);PT08.S1(CO);NMHC(GT);C6H6;PT08.S2(NMHC);NOx(GT);"
            b"PT08.S3(NOx);NO2(GT);PT08.S4(NO2);PT08.S5(O3);T;RH;AH;;",
            "missing: C6H6\\(GT\\); unexpected: C6H6",
        ),
    ],
    ids=["ccpp-renamed", "ccpp-missing", "ccpp-order", "ccpp-extra", "aq-renamed"],
)
def test_wrong_header_is_refused(tmp_path, src, header, problem):
    reader = read_ccpp if src == CCPP_FILE else read_airquality
    bad = _mutate(src, tmp_path / src.name, lambda b: _replace_line(b, 0, header))
    with pytest.raises(DataError, match="checksum"):
        reader(bad)
    with pytest.raises(DataError, match=rf"line 1: wrong header \({problem}\)") as err:
        reader(bad, verify=False)
    assert str(bad) in str(err.value)


@needs_data
@pytest.mark.parametrize(
    ("src", "index", "line", "pattern"),
    [
        (CCPP_FILE, 99, b"14.96,41.76,1024.07,73.17", "line 100: expected 5 fields, found 4"),
        (CCPP_FILE, 5, b"14.96,41.76,abc,73.17,463.26", "line 6: column AP: 'abc' is not a number"),
        (CCPP_FILE, 7, b"14.96,41.76,,73.17,463.26", "line 8: column AP: '' is not a number"),
        (CCPP_FILE, 7, b"nan,41.76,1,73.17,463.26", "line 8: column AT: 'nan'"),
        (CCPP_FILE, 9, b"", "line 10: empty line"),
        (
            AQ_FILE,
            2,
            b"10/03/2004;19.00.00;2;1292;112;9.4;955;103;1174;92;1559;972;13,3;47,7;0,7255;;",
            "line 3: column C6H6\\(GT\\): '9.4' is not a number with a decimal comma",
        ),
        (
            AQ_FILE,
            2,
            b"10/03/2004;19.00.00;2;1292;112;9,4;955;103;1174;92;1559;972;13,3;47,7;;",
            "line 3: expected 17 fields, found 16",
        ),
        (
            AQ_FILE,
            2,
            b"10/03/2004;19.00.00;2;1292;112;9,4;955;103;1174;92;1559;972;13,3;47,7;0,7255;x;",
            "line 3: unexpected value 'x' in unnamed column 16",
        ),
        (
            AQ_FILE,
            2,
            b"2004-03-10;19.00.00;2;1292;112;9,4;955;103;1174;92;1559;972;13,3;47,7;0,7255;;",
            "line 3: column Date",
        ),
        (
            AQ_FILE,
            9400,
            b"04/04/2005;15.00.00;2,2;1071;-200;11,9;1047;265;654;168;1129;816;28,5;13,1;0,5028;;",
            "line 9401: data row after the empty line 9359",
        ),
    ],
    ids=[
        "ccpp-fields", "ccpp-text", "ccpp-empty-field", "ccpp-nan", "ccpp-blank-line",
        "aq-decimal-point", "aq-fields", "aq-unnamed", "aq-date", "aq-after-tail",
    ],
)  # fmt: skip
def test_malformed_rows_are_refused(tmp_path, src, index, line, pattern):
    reader = read_ccpp if src == CCPP_FILE else read_airquality
    bad = _mutate(src, tmp_path / src.name, lambda b: _replace_line(b, index, line))
    with pytest.raises(DataError, match=pattern) as err:
        reader(bad, verify=False)
    assert str(bad) in str(err.value)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        read_ccpp(empty, verify=False)
    with pytest.raises(DataError, match="no data rows"):
        read_ccpp(_mutate(empty, tmp_path / "h.csv", lambda b: b"AT,V,AP,RH,PE\r\n"), verify=False)
    with pytest.raises(DataError, match="not found"):
        read_airquality(tmp_path / "nope.csv")


@needs_data
def test_modified_copies_in_other_conventions_load_with_verify_false(tmp_path):
    # LF endings, no BOM (the normalised form in the data README): same values.
    lf = _mutate(CCPP_FILE, tmp_path / "lf.csv", lambda b: b[3:].replace(b"\r\n", b"\n"))
    assert hashlib.sha256(lf.read_bytes()).hexdigest() == (
        "3c1fc11025f8424f8d95802d8b7086dffd3f73a552c6dcab3d973620986194b2"
    )
    a, b = read_ccpp(lf, verify=False), read_ccpp(CCPP_FILE)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)

    # Air Quality without the trailing empty lines and unnamed columns.
    def strip(data: bytes) -> bytes:
        lines = [ln[:-2] for ln in data.split(b"\r\n") if ln and ln.strip(b";")]
        return b"\r\n".join(lines) + b"\r\n"

    aq = read_airquality(_mutate(AQ_FILE, tmp_path / "aq.csv", strip), verify=False)
    assert aq.X.shape == (AQ_KEPT_ROWS, 8)


# --------------------------------------------------------------------------
# Downloads from a real local HTTP server
# --------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests_seen: list[str] = []

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def do_GET(self):  # noqa: N802 - stdlib name
        type(self).requests_seen.append(self.path)
        super().do_GET()


@pytest.fixture
def http_root(tmp_path, monkeypatch):
    """Serve a temporary folder on 127.0.0.1; FLEXPOISON_DATA_URL points at it."""
    root = tmp_path / "www"
    root.mkdir()
    handler = type("Handler", (_QuietHandler,), {"requests_seen": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(root))
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    monkeypatch.setenv("FLEXPOISON_DATA_URL", f"http://127.0.0.1:{server.server_port}/")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    try:
        yield root, handler.requests_seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _serve_zip(root: Path, members: dict[str, bytes]) -> Path:
    archive = root / REGISTRY["airquality"].url_path  # 360/air+quality.zip
    archive.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    archive.write_bytes(buf.getvalue())
    return archive


def _cache_files(cache: Path) -> list[str]:
    if not cache.exists():
        return []
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*"))


@needs_data
def test_download_lands_in_cache_and_loads(http_root, tmp_path):
    root, seen = http_root
    _serve_zip(
        root,
        {"AirQualityUCI.csv": AQ_FILE.read_bytes(), "AirQualityUCI.xlsx": b"not read"},
    )
    ds = load_dataset("airquality")  # download=True by default
    assert ds.X.shape == (AQ_KEPT_ROWS, 8)
    assert seen == ["/360/air+quality.zip"]
    cache = tmp_path / "cache"
    # Only the verified CSV is kept: no zip, no temporary folder.
    assert _cache_files(cache) == ["airquality", "airquality/AirQualityUCI.csv"]
    cached = cache / "airquality" / "AirQualityUCI.csv"
    assert cached.read_bytes() == AQ_FILE.read_bytes()
    # The second load uses the cache, without a request.
    again = load_dataset("airquality", download=False)
    np.testing.assert_array_equal(again.X, ds.X)
    assert seen == ["/360/air+quality.zip"]


@needs_data
def test_download_with_wrong_content_is_refused_and_not_cached(http_root, tmp_path):
    root, seen = http_root
    data = AQ_FILE.read_bytes().replace(b";1360;", b";1361;", 1)
    _serve_zip(root, {"AirQualityUCI.csv": data})
    with pytest.raises(DataError) as err:
        load_dataset("airquality")
    msg = str(err.value)
    assert "checksum" in msg and "nothing was stored" in msg
    assert REGISTRY["airquality"].sha256 in msg
    assert hashlib.sha256(data).hexdigest() in msg
    assert seen == ["/360/air+quality.zip"]
    assert _cache_files(tmp_path / "cache") == ["airquality"]  # empty folder only
    with pytest.raises(DataError, match="download=False"):
        load_dataset("airquality", download=False)


def test_download_failures_are_data_errors(http_root, tmp_path):
    root, _ = http_root
    with pytest.raises(DataError, match=r"could not download .*404"):
        load_dataset("airquality")  # nothing served
    _serve_zip(root, {"other.csv": b"x\r\n"})
    with pytest.raises(DataError, match="has no member 'AirQualityUCI.csv'"):
        load_dataset("airquality")
    archive = root / REGISTRY["airquality"].url_path
    archive.write_bytes(b"this is not a zip file")
    with pytest.raises(DataError, match="could not download"):
        load_dataset("airquality")
    assert _cache_files(tmp_path / "cache") == ["airquality"]


@needs_data
def test_pinned_archive_checksum_is_enforced(http_root, monkeypatch, tmp_path):
    root, _ = http_root
    archive = _serve_zip(root, {"AirQualityUCI.csv": AQ_FILE.read_bytes()})
    entry = REGISTRY["airquality"]
    monkeypatch.setitem(uci._REGISTRY, "airquality", replace(entry, archive_sha256="0" * 64))
    with pytest.raises(DataError, match="could not download"):
        load_dataset("airquality")
    assert _cache_files(tmp_path / "cache") == ["airquality"]
    good = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(uci._REGISTRY, "airquality", replace(entry, archive_sha256=good))
    assert load_dataset("airquality").X.shape == (AQ_KEPT_ROWS, 8)


@needs_data
def test_folders_left_by_a_killed_download_are_removed(http_root, tmp_path):
    """A SIGKILL during a download left ``.download-*`` folders in the cache for ever;
    the next download removes those of processes that no longer run (and keeps the
    one of a process that still runs)."""
    import subprocess

    root, _ = http_root
    _serve_zip(root, {"AirQualityUCI.csv": AQ_FILE.read_bytes()})
    cache = tmp_path / "cache"
    dead = subprocess.Popen(["true"])
    dead.wait()
    (cache / f".download-{dead.pid}-abc" / "extracted").mkdir(parents=True)
    alive = cache / f".download-{os.getppid()}-def"
    alive.mkdir()
    load_dataset("airquality")
    assert _cache_files(cache) == [alive.name, "airquality", "airquality/AirQualityUCI.csv"]
