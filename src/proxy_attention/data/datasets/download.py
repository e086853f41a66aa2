"""Fetch a dataset file honestly: streamed, retried, checked, and renamed into place only when whole.

A download streams into a temporary file next to its destination, logs its
progress about every 5 %, retries transient failures (connection errors,
timeouts, HTTP 408/429/5xx, a body shorter than its Content-Length) with
exponential back-off, verifies the checksum computed on the fly, and only then
renames the file to its final name. Any failure leaves nothing behind.

A ``source`` that is a local path (or ``file://`` URL) is verified in place and
linked, never copied or modified. Kaggle-only files use the ``kaggle`` package
when it is installed and has credentials; otherwise the error says which file
to fetch from where and where to put it.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

from proxy_attention.atomic import atomic_path
from proxy_attention.data.datasets.registry import (
    REGISTRY,
    RemoteFile,
    parse_checksum,
    registry_type,
    remote_files,
)
from proxy_attention.errors import DataError

log = logging.getLogger(__name__)

TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}
CHUNK = 1 << 20


class DownloadError(DataError):
    pass


class ChecksumError(DownloadError):
    pass


class _Transient(Exception):
    """A failure worth another try."""


def file_digest(path: str | Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _pin_hint(dataset: str, filename: str, sha256: str) -> str:
    return (f"pin it with datasets.{dataset}.checksum: 'sha256:{sha256}' "
            f"(a mapping {{{filename}: 'sha256:{sha256}'}} for a dataset of several files)")


def check_digest(dataset: str, filename: str, location: str, checksum: str | None, actual: dict[str, str]) -> None:
    """Compare computed digests (algo -> hex) with ``checksum``; warn with the sha256 when there is none."""
    if checksum is None:
        log.warning("dataset '%s': no published checksum for %s (from %s); its sha256 is %s; %s",
                    dataset, filename, location, actual["sha256"], _pin_hint(dataset, filename, actual["sha256"]))
        return
    algo, expected = parse_checksum(checksum, dataset)
    if actual[algo] != expected:
        raise ChecksumError(
            f"dataset '{dataset}': checksum mismatch for {filename} from {location}: expected {algo}:{expected}, "
            f"got {algo}:{actual[algo]}. Nothing was kept. If this file is the one you want (a re-packed mirror, "
            f"say), set datasets.{dataset}.checksum to '{algo}:{actual[algo]}'"
        )
    log.info("dataset '%s': %s verified (%s:%s)", dataset, filename, algo, expected)


def verify_file(dataset: str, path: str | Path, checksum: str | None, location: str | None = None) -> None:
    """Check a file on disk against ``checksum`` (or log its sha256 when there is none)."""
    path = Path(path)
    algos = {"sha256"} | ({parse_checksum(checksum, dataset)[0]} if checksum else set())
    hashes = {a: hashlib.new(a) for a in algos}
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            for h in hashes.values():
                h.update(chunk)
    check_digest(dataset, path.name, location or str(path), checksum, {a: h.hexdigest() for a, h in hashes.items()})


def _local_path(location: str) -> Path | None:
    """The file a location names when it is local (a path or a file:// URL), else None."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "":
        return Path(location).expanduser()
    return None


def _stream(url: str, tmp: Path, label: str, algos: set[str], dataset: str, timeout: float) -> dict[str, str]:
    """Stream ``url`` into ``tmp``; return the digests. Raises _Transient for failures worth retrying."""
    request = urllib.request.Request(url, headers={"User-Agent": "proxy-attention-pipeline"})
    hashes = {a: hashlib.new(a) for a in algos}
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
            length = response.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            step = length / 20 if length else 50e6  # a progress line every 5 % (or 50 MB)
            done, next_report, start = 0, step, time.monotonic()
            while chunk := response.read(CHUNK):
                out.write(chunk)
                for h in hashes.values():
                    h.update(chunk)
                done += len(chunk)
                if done >= next_report:
                    rate = done / max(time.monotonic() - start, 1e-6) / 1e6
                    share = f"{100 * done / length:3.0f}% " if length else ""
                    total = f" of {length / 1e6:.1f}" if length else ""
                    log.info("%s: %s(%.1f%s MB, %.1f MB/s)", label, share, done / 1e6, total, rate)
                    next_report = (done // step + 1) * step
    except urllib.error.HTTPError as e:
        if e.code in TRANSIENT_HTTP:
            raise _Transient(f"HTTP {e.code} {e.reason}") from None
        raise DownloadError(f"dataset '{dataset}': {url} answered HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError) as e:
        raise _Transient(f"{type(e).__name__}: {getattr(e, 'reason', e)}") from None
    if length is not None and done != length:
        raise _Transient(f"transfer ended after {done} of {length} bytes (Content-Length)")
    return {a: h.hexdigest() for a, h in hashes.items()}


def download_url(dataset: str, url: str, dest: str | Path, checksum: str | None,
                 retries: int = 4, backoff: float = 2.0, timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest`` atomically, retrying transient failures, and verify it."""
    dest = Path(dest)
    algos = {"sha256"} | ({parse_checksum(checksum, dataset)[0]} if checksum else set())
    for attempt in range(1, retries + 2):
        log.info("dataset '%s': downloading %s (attempt %d of %d)", dataset, url, attempt, retries + 1)
        try:
            with atomic_path(dest) as tmp:
                digests = _stream(url, tmp, dest.name, algos, dataset, timeout)
                check_digest(dataset, dest.name, url, checksum, digests)
            log.info("dataset '%s': %s saved as %s (%d bytes)", dataset, url, dest, dest.stat().st_size)
            return
        except _Transient as e:
            if attempt > retries:
                raise DownloadError(
                    f"dataset '{dataset}': downloading {url} failed {attempt} times; last error: {e}. "
                    "Nothing was kept; run again later or set 'source' to a mirror"
                ) from None
            wait = backoff * 2 ** (attempt - 1)
            log.warning("dataset '%s': %s: %s; retrying in %.0f s", dataset, url, e, wait)
            time.sleep(wait)


def link_local(dataset: str, path: Path, dest: str | Path, checksum: str | None) -> None:
    """Verify a local mirror file and link it as ``dest`` (the mirror is never copied or changed)."""
    path = path.resolve()
    if not path.is_file():
        raise DownloadError(f"dataset '{dataset}': source file {path} does not exist")
    verify_file(dataset, path, checksum, str(path))
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        tmp.unlink()
        os.symlink(path, tmp)
    log.info("dataset '%s': linked %s -> %s", dataset, dest, path)


def _kaggle_credentials() -> bool:
    config_dir = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))
    return (
        (config_dir / "kaggle.json").is_file()
        or (config_dir / "access_token").is_file()
        or bool(os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"))
        or bool(os.environ.get("KAGGLE_API_TOKEN"))
    )


def _kaggle_api():
    """An authenticated Kaggle API client, or None (package missing or no credentials)."""
    if not _kaggle_credentials():
        return None
    try:
        from kaggle.api.kaggle_api_extended import (
            KaggleApi,  # importing 'kaggle' itself authenticates
        )
    except (Exception, SystemExit) as e:  # the package exits or raises without credentials
        log.warning("kaggle package not usable: %s", e)
        return None
    api = KaggleApi()
    api.authenticate()
    return api


def manual_download_message(dataset: str, slug: str, filename: str, dest: Path) -> str:
    return (
        f"dataset '{dataset}' is distributed only through Kaggle ({slug}) and no Kaggle API access is set up here. "
        f"Either (1) download it with the 'Download' button on https://www.kaggle.com/datasets/{slug} "
        f"(the browser may call the file archive.zip) and put the zip file at {dest.resolve()}, then run again; "
        f"or (2) set datasets.{dataset}.source to the zip file's path or URL; "
        f"or (3) 'pip install kaggle' and put your API token in ~/.kaggle/kaggle.json "
        f"(or set KAGGLE_USERNAME and KAGGLE_KEY) so the workflow downloads {filename} itself"
    )


def fetch_kaggle(dataset: str, slug: str, remote: RemoteFile, dest: str | Path) -> None:
    dest = Path(dest)
    api = _kaggle_api()
    if api is None:
        raise DownloadError(manual_download_message(dataset, slug, remote.filename, dest))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as tmp:
        log.info("dataset '%s': downloading %s through the Kaggle API", dataset, slug)
        api.dataset_download_files(slug, path=tmp, unzip=False, quiet=False)
        zips = sorted(Path(tmp).glob("*.zip"))
        if len(zips) != 1:
            raise DownloadError(f"dataset '{dataset}': the Kaggle API gave {[z.name for z in zips]}, expected one zip file")
        verify_file(dataset, zips[0], remote.checksum, f"kaggle:{slug}")
        os.replace(zips[0], dest)


def fetch(dataset: str, options: dict | None, filename: str, dest: str | Path, **download_kw) -> None:
    """Make ``dest`` hold the verified file ``filename`` of a configured registry dataset."""
    kind = registry_type(dataset, options)
    if kind is None:
        raise DataError(f"dataset '{dataset}' is not a published dataset with downloads")
    files = {f.filename: f for f in remote_files(dataset, options)}
    if filename not in files:
        raise DataError(f"dataset '{dataset}' has no file {filename!r}; its files are {sorted(files)}")
    remote = files[filename]
    info = REGISTRY[kind]
    if remote.url is None:
        if info.kaggle:
            return fetch_kaggle(dataset, info.kaggle, remote, dest)
        raise DownloadError(f"dataset '{dataset}': {filename} has no official download; set 'source' to its path or URL")
    local = _local_path(remote.url)
    if local is not None:
        return link_local(dataset, local, dest, remote.checksum)
    if remote.size:
        log.info("dataset '%s': %s is %.1f MB", dataset, filename, remote.size / 1e6)
    try:
        download_url(dataset, remote.url, dest, remote.checksum, **download_kw)
    except DownloadError as e:
        if isinstance(e, ChecksumError):
            raise
        raise DownloadError(f"{e}. The dataset's page: {info.homepage}") from None

