"""Downloads against a loopback HTTP server: success, checksum mismatch, HTTP/connection errors,
interrupted transfers, atomic zip extraction, and the registry's download path."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from recdenoise.data import registry
from recdenoise.data.download import DownloadSpec, download_into, extract_zip, fetch, resolve_cache_dir
from recdenoise.data.registry import DatasetFile, Manifest, load_dataset
from recdenoise.errors import ChecksumError, DatasetNotFoundError, DownloadError

TRAIN = b"0 0 1\n1 1 2\n"
VALID = b"0 2\n"
TEST = b"1 0\n"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


ZIP = _zip({"toy/train.txt": TRAIN, "toy/valid.txt": VALID, "toy/test.txt": TEST, "toy/README": b"hi"})
ROUTES = {"/toy.zip": ZIP, "/train.txt": TRAIN, "/valid.txt": VALID, "/test.txt": TEST}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        _Handler.requests.append(self.path)
        if self.path == "/short":  # promises 1000 bytes, sends 100, hangs up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = ROUTES.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def dead_url() -> str:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/toy.zip"


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# ====================================================================== fetch
def test_fetch_success(server: str, tmp_path: Path) -> None:
    dest = fetch(f"{server}/train.txt", tmp_path / "cache" / "train.txt", sha256=sha(TRAIN), timeout=5)
    assert dest.read_bytes() == TRAIN
    assert _entries(tmp_path / "cache") == ["train.txt"]  # no temp file left


def test_fetch_checksum_mismatch_leaves_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(ChecksumError, match="sha256 mismatch: expected 0000"):
        fetch(f"{server}/train.txt", tmp_path / "train.txt", sha256="0" * 64, timeout=5)
    assert _entries(tmp_path) == []


def test_fetch_404(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{server}/missing.zip", tmp_path / "x.zip", timeout=5)
    assert _entries(tmp_path) == []


def test_fetch_server_down(dead_url: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="cannot connect"):
        fetch(dead_url, tmp_path / "x.zip", timeout=5)
    assert _entries(tmp_path) == []


def test_fetch_interrupted_transfer_leaves_no_half_file(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="(ended early|transfer failed)"):
        fetch(f"{server}/short", tmp_path / "x.bin", timeout=5)
    assert _entries(tmp_path) == []


# ====================================================================== zip extraction
def test_extract_zip_strips_folder_and_merges(tmp_path: Path) -> None:
    archive = tmp_path / "toy.zip"
    archive.write_bytes(ZIP)
    dest = extract_zip(archive, tmp_path / "out" / "toy", strip="toy")
    assert (dest / "train.txt").read_bytes() == TRAIN and _entries(tmp_path / "out") == [
        "README", "test.txt", "toy", "train.txt", "valid.txt",
    ]  # fmt: skip
    (dest / "extra").mkdir()
    (dest / "extra" / "keep.txt").write_text("x")
    extract_zip(archive, dest, strip="toy")  # into an existing folder: files replaced, others kept
    assert (dest / "extra" / "keep.txt").exists()


def test_extract_zip_rejects_unsafe_and_corrupt_archives(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    evil.write_bytes(_zip({"../escape.txt": b"x"}))
    with pytest.raises(DownloadError, match="unsafe member path"):
        extract_zip(evil, tmp_path / "out")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DownloadError, match="not a valid zip"):
        extract_zip(bad, tmp_path / "out")
    good = tmp_path / "good.zip"
    good.write_bytes(ZIP)
    with pytest.raises(DownloadError, match="has no folder 'other'"):
        extract_zip(good, tmp_path / "out", strip="other")
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # temp folders removed


def test_download_into_checks_files_before_installing(server: str, tmp_path: Path) -> None:
    specs = [DownloadSpec(f"{server}/toy.zip", "zip", strip="toy")]
    folder = download_into(specs, tmp_path / "toy", {"train.txt": sha(TRAIN), "test.txt": None}, timeout=5)
    assert (folder / "test.txt").read_bytes() == TEST
    with pytest.raises(ChecksumError, match="train.txt .* sha256 mismatch"):
        download_into(specs, tmp_path / "other", {"train.txt": "f" * 64}, timeout=5)
    with pytest.raises(DownloadError, match="did not contain nope.txt"):
        download_into(specs, tmp_path / "other", {"nope.txt": None}, timeout=5)
    assert not (tmp_path / "other").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy"]


def test_resolve_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECDENOISE_CACHE_DIR", str(tmp_path / "env"))
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_cache_dir() == tmp_path / "env"
    monkeypatch.delenv("RECDENOISE_CACHE_DIR")
    assert resolve_cache_dir() == Path.home() / ".cache" / "recdenoise"


# ====================================================================== registry download path
def _toy_manifest(downloads: tuple[DownloadSpec, ...], train_sha: str | None = None) -> Manifest:
    return Manifest(
        name="toy",
        description="toy LightGCN dataset",
        folder="toy-folder",
        format="lightgcn",
        predefined_split=True,
        downloads=downloads,
        files=(
            DatasetFile("train.txt", train_sha or sha(TRAIN)),
            DatasetFile("valid.txt", sha(VALID)),
            DatasetFile("test.txt", sha(TEST)),
        ),
    )


@pytest.fixture
def use_manifest(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("RECDENOISE_DATA_DIR", raising=False)

    def install(manifest: Manifest) -> None:
        monkeypatch.setattr(registry, "_MANIFESTS", {manifest.name: manifest})

    return install


@pytest.mark.parametrize("kind", ["zip", "file"])
def test_load_dataset_downloads_once_into_the_cache(server: str, tmp_path: Path, use_manifest, kind: str) -> None:
    if kind == "zip":
        downloads = (DownloadSpec(f"{server}/toy.zip", "zip", strip="toy"),)
    else:
        files = (("train.txt", TRAIN), ("valid.txt", VALID), ("test.txt", TEST))
        downloads = tuple(DownloadSpec(f"{server}/{name}", "file", name, sha(data)) for name, data in files)
    use_manifest(_toy_manifest(downloads))
    cache = tmp_path / "cache"
    before = len(_Handler.requests)
    ds = load_dataset("toy", data_dir=tmp_path / "nothing-here", download=True, cache_dir=cache)
    assert ds.predefined is not None and len(ds.interactions) == 6
    assert (cache / "toy-folder" / "train.txt").read_bytes() == TRAIN
    hits = len(_Handler.requests) - before
    load_dataset("toy", download=True, cache_dir=cache)  # served from the cache
    assert len(_Handler.requests) - before == hits


def test_load_dataset_failed_download_says_where_to_put_files(server: str, tmp_path: Path, use_manifest) -> None:
    use_manifest(_toy_manifest((DownloadSpec(f"{server}/gone.zip", "zip", strip="toy"),)))
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("toy", data_dir=tmp_path / "data", download=True, cache_dir=tmp_path / "cache")
    msg = str(info.value)
    assert "the download failed" in msg and "HTTP 404" in msg
    assert f"place the files train.txt, valid.txt, test.txt in {tmp_path / 'data' / 'toy-folder'}/" in msg
    assert f"--data-dir {tmp_path / 'data'}" in msg
    assert _entries(tmp_path / "cache") == []


def test_load_dataset_offline(dead_url: str, tmp_path: Path, use_manifest) -> None:
    use_manifest(_toy_manifest((DownloadSpec(dead_url, "zip", strip="toy"),)))
    with pytest.raises(DatasetNotFoundError, match="cannot connect"):
        load_dataset("toy", download=True, cache_dir=tmp_path / "cache")
    with pytest.raises(DatasetNotFoundError, match="pass --download"):
        load_dataset("toy", cache_dir=tmp_path / "cache")


def test_load_dataset_checksum_mismatch_is_not_installed(server: str, tmp_path: Path, use_manifest) -> None:
    use_manifest(_toy_manifest((DownloadSpec(f"{server}/toy.zip", "zip", strip="toy"),), train_sha="a" * 64))
    with pytest.raises(ChecksumError):
        load_dataset("toy", download=True, cache_dir=tmp_path / "cache")
    assert _entries(tmp_path / "cache") == []
