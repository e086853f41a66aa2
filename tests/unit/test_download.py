"""Downloads are atomic and honest: verified, retried when transient, and never half-written."""

import hashlib
import logging
import os

import pytest
from loopback import LoopbackServer

from proxy_attention.data.datasets.download import (
    ChecksumError,
    DownloadError,
    download_url,
    fetch,
    parse_checksum,
)
from proxy_attention.errors import DataError

BODY = os.urandom(300_000)
SHA = hashlib.sha256(BODY).hexdigest()
MD5 = hashlib.md5(BODY).hexdigest()
FAST = dict(retries=2, backoff=0.0, timeout=10)


@pytest.fixture
def server():
    with LoopbackServer() as srv:
        srv.files["/data/archive.tgz"] = BODY
        yield srv


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_parse_checksum():
    assert parse_checksum(f"SHA256:{SHA.upper()}") == ("sha256", SHA)
    assert parse_checksum(f"md5:{MD5}") == ("md5", MD5)
    for bad in ("abc", f"sha256:{MD5}", "crc32:1234abcd", f"md5:{'z' * 32}"):
        with pytest.raises(DataError, match="checksum"):
            parse_checksum(bad, "demo")


@pytest.mark.parametrize("checksum", [f"sha256:{SHA}", f"md5:{MD5}"], ids=["sha256", "md5"])  # ids the same on each xdist worker
def test_download_with_right_checksum(server, tmp_path, checksum):
    dest = tmp_path / "dl" / "archive.tgz"
    download_url("demo", server.url("/data/archive.tgz"), dest, checksum, **FAST)
    assert dest.read_bytes() == BODY
    assert leftovers(dest.parent) == ["archive.tgz"]
    assert server.requests == ["/data/archive.tgz"]


def test_wrong_checksum_names_dataset_expected_actual_and_url_and_keeps_nothing(server, tmp_path):
    dest = tmp_path / "dl" / "archive.tgz"
    wrong = "sha256:" + "0" * 64
    url = server.url("/data/archive.tgz")
    with pytest.raises(ChecksumError) as err:
        download_url("demo", url, dest, wrong, **FAST)
    msg = str(err.value)
    assert "'demo'" in msg and "0" * 64 in msg and SHA in msg and url in msg
    assert leftovers(dest.parent) == []
    assert len(server.requests) == 1  # a mismatch is not retried


def test_interrupted_transfer_is_retried(server, tmp_path, caplog):
    server.faults["/data/archive.tgz"] = ["truncate"]
    dest = tmp_path / "archive.tgz"
    with caplog.at_level(logging.WARNING):
        download_url("demo", server.url("/data/archive.tgz"), dest, f"sha256:{SHA}", **FAST)
    assert dest.read_bytes() == BODY
    assert len(server.requests) == 2
    assert "ended after 150000 of 300000 bytes" in caplog.text


def test_interrupted_transfer_without_checksum_is_detected_and_leaves_nothing(server, tmp_path):
    server.faults["/data/archive.tgz"] = ["truncate"] * 3
    dest = tmp_path / "dl" / "archive.tgz"
    with pytest.raises(DownloadError, match=r"failed 3 times; last error: transfer ended after 150000 of 300000"):
        download_url("demo", server.url("/data/archive.tgz"), dest, None, **FAST)
    assert leftovers(dest.parent) == []


def test_transient_http_errors_are_retried_and_permanent_ones_are_not(server, tmp_path):
    server.faults["/data/archive.tgz"] = [503, 429]
    dest = tmp_path / "archive.tgz"
    download_url("demo", server.url("/data/archive.tgz"), dest, f"sha256:{SHA}", **FAST)
    assert dest.read_bytes() == BODY and len(server.requests) == 3

    with pytest.raises(DownloadError, match="HTTP 404"):
        download_url("demo", server.url("/missing.tgz"), tmp_path / "missing.tgz", None, **FAST)
    assert server.requests.count("/missing.tgz") == 1


def test_unreachable_server_fails_after_retries(tmp_path):
    with LoopbackServer() as srv:
        url = srv.url("/x.tgz")
    with pytest.raises(DownloadError, match="failed 3 times"):
        download_url("demo", url, tmp_path / "x.tgz", None, **FAST)
    assert leftovers(tmp_path) == []


def test_missing_checksum_logs_the_sha256_to_pin(server, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        download_url("demo", server.url("/data/archive.tgz"), tmp_path / "a.tgz", None, **FAST)
    assert f"sha256 is {SHA}" in caplog.text and f"checksum: 'sha256:{SHA}'" in caplog.text


def test_local_mirror_is_verified_and_linked_not_copied(tmp_path):
    mirror = tmp_path / "mirror" / "food-101.tar.gz"
    mirror.parent.mkdir()
    mirror.write_bytes(BODY)
    mirror.chmod(0o444)
    dest = tmp_path / "resources" / "downloads" / "food101" / "food-101.tar.gz"
    fetch("food101", {"source": str(mirror), "checksum": f"sha256:{SHA}"}, "food-101.tar.gz", dest)
    assert dest.is_symlink() and dest.resolve() == mirror and dest.read_bytes() == BODY

    other = tmp_path / "resources" / "downloads" / "food101b" / "food-101.tar.gz"
    with pytest.raises(ChecksumError, match=f"'food101b'.*{mirror}: expected sha256:d97d15e4.*got sha256:{SHA}"):
        fetch("food101b", {"type": "food101", "source": f"file://{mirror}"}, "food-101.tar.gz", other)
    assert leftovers(other.parent) == []
    assert mirror.read_bytes() == BODY


def test_source_folder_or_prefix_holds_the_official_file_names(server, tmp_path):
    server.files["/mirror/dogs/lists.tar"] = BODY
    options = {"source": server.url("/mirror/dogs/"), "checksum": {"lists.tar": f"md5:{MD5}"}}
    dest = tmp_path / "lists.tar"
    fetch("stanford_dogs", options, "lists.tar", dest, **FAST)
    assert dest.read_bytes() == BODY and server.requests == ["/mirror/dogs/lists.tar"]


def test_kaggle_only_dataset_without_api_says_what_to_download_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle"))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    dest = tmp_path / "resources" / "downloads" / "asl_alphabet" / "asl-alphabet.zip"
    with pytest.raises(DownloadError) as err:
        fetch("asl_alphabet", {}, "asl-alphabet.zip", dest)
    msg = str(err.value)
    assert "https://www.kaggle.com/datasets/grassknoted/asl-alphabet" in msg
    assert str(dest.resolve()) in msg and "source" in msg and "kaggle.json" in msg
    assert not dest.exists()
