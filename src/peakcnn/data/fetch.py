"""Fetch one input file: download or copy, verify, decompress, normalise and sanity-check it.

The transfer (``peakcnn.data.transfer``) uses only the standard library; the content
(``peakcnn.data.content``) may be plain, gzip or bgzip and is always written decompressed, with
Windows (CRLF) line endings turned into LF. Nothing partial is ever left at the destination: the
download and the decompressed file are temporary files next to it, and only a complete, checked
file is moved into place (``peakcnn.io.atomic_path``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyfaidx

from peakcnn.data.content import check_first_data_line, decompress, is_gzip
from peakcnn.data.transfer import TIMEOUT_S, URL_RE, URL_SCHEMES, download, one_line
from peakcnn.errors import InputError
from peakcnn.io import atomic_path

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
"""Bytes read and written per step; files are streamed, never loaded whole."""

KINDS = ("fasta", "bed")

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def fetch_file(
    source: str,
    dest: str,
    sha256: str | None = None,
    kind: str = "bed",
    *,
    cafile: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    timeout: float = TIMEOUT_S,
) -> dict[str, Any]:
    """Download or copy ``source`` to ``dest``, decompressed, checked and with LF line endings.

    Parameters
    ----------
    source : str
        An ``http://``, ``https://``, ``ftp://`` or ``file://`` URL, or a local path (relative
        to the working directory, or absolute). Plain, gzip or bgzip content.
    dest : str
        Where the decompressed file is written. Its folder is created if needed. It is only
        replaced once the new file is complete and has passed every check.
    sha256 : str or None, optional
        Expected SHA-256 hex digest of the bytes as downloaded (the compressed file, as listed
        in the usual ``SHA256SUMS`` files). ``None`` skips the verification.
    kind : {"bed", "fasta"}, optional
        What the file must look like; its first data line is checked.
    cafile : str or None, optional
        PEM file of extra certificate authorities to trust for ``https://``. ``None`` uses the
        system trust store (which honours the ``SSL_CERT_FILE`` environment variable).
    chunk_size : int, optional
        Bytes per read and write step.
    timeout : float, optional
        Seconds a network connection may stay silent before the fetch fails.

    Returns
    -------
    dict
        ``source``, ``dest``, ``bytes_downloaded``, ``bytes_written``, ``compressed``,
        ``sha256`` (actual digest of the downloaded bytes), ``sha256_verified``,
        ``crlf_converted`` (number of CRLF line endings turned into LF) and ``seconds``.

    Raises
    ------
    InputError
        If the transfer fails, the checksum differs, the gzip data is truncated or corrupt, or
        the content is not the expected kind. The message is one line naming the source and
        the fix. No file is left at ``dest`` (an older ``dest`` is left untouched).
    """
    expected = _check_arguments(source, sha256, kind, chunk_size)
    start = time.monotonic()
    with atomic_path(dest) as written, _scratch_file(written + ".download") as downloaded:
        n_down, digest = download(source, downloaded, cafile, chunk_size, timeout)
        _verify_sha256(source, expected, digest)
        compressed = is_gzip(downloaded)
        n_written, n_crlf = decompress(source, downloaded, written, compressed, chunk_size)
        check_first_data_line(source, written, kind)
    seconds = time.monotonic() - start
    _log_throughput(source, dest, n_down, seconds)
    summary = {
        "source": source,
        "dest": dest,
        "bytes_downloaded": n_down,
        "bytes_written": n_written,
        "compressed": compressed,
        "sha256": digest,
        "sha256_verified": expected is not None,
        "crlf_converted": n_crlf,
        "seconds": seconds,
    }
    _log_summary(summary)
    return summary


def _check_arguments(source: str, sha256: str | None, kind: str, chunk_size: int) -> str | None:
    """Validate the arguments of :func:`fetch_file` before anything is transferred.

    Parameters
    ----------
    source : str
        The source URL or path; only its URL scheme is checked here.
    sha256 : str or None
        The expected digest, any case, surrounding spaces allowed.
    kind : str
        Must be one of :data:`KINDS`.
    chunk_size : int
        Must be positive.

    Returns
    -------
    str or None
        The expected digest in lower case, or ``None`` when none was given.

    Raises
    ------
    ValueError
        For a bad ``kind`` or ``chunk_size`` (a programming error).
    InputError
        For an unsupported URL scheme or a malformed checksum (a config error).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    match = URL_RE.match(source)
    if match and match.group(1).lower() not in URL_SCHEMES:
        raise InputError(
            f"unsupported URL scheme '{match.group(1)}://'; use http://, https://, ftp://, "
            "file:// or a local path (download the file by hand first)",
            path=source,
        )
    if sha256 is None:
        return None
    expected = sha256.strip().lower()
    if not _SHA256_RE.match(expected):
        raise InputError(
            f"sha256 {sha256!r} is not a 64-digit hexadecimal SHA-256 digest; "
            "fix the checksum in the config",
            path=source,
        )
    return expected


@contextmanager
def _scratch_file(path: str) -> Iterator[str]:
    """Yield ``path`` for a temporary file, and remove that file when the block ends.

    Parameters
    ----------
    path : str
        A fresh name (beside the destination); the file is created by the block.

    Yields
    ------
    str
        ``path``.
    """
    try:
        yield path
    finally:
        Path(path).unlink(missing_ok=True)


def _verify_sha256(source: str, expected: str | None, actual: str) -> None:
    """Compare the digest of the downloaded bytes with the expected one.

    Parameters
    ----------
    source : str
        URL or path, for the message.
    expected : str or None
        Lower-case expected digest; ``None`` skips the check.
    actual : str
        Digest of the downloaded bytes.

    Raises
    ------
    InputError
        If the digests differ.
    """
    if expected is None or expected == actual:
        return
    raise InputError(
        f"SHA-256 checksum mismatch: expected {expected}, got {actual}; the file changed or "
        "the download was corrupted: update the sha256 in the config (if the new file is "
        "right) or fix the source",
        path=source,
    )


def _log_throughput(source: str, dest: str, n_bytes: int, seconds: float) -> None:
    """Log the size and throughput of a finished fetch.

    Parameters
    ----------
    source : str
        URL or path fetched.
    dest : str
        Where it was written.
    n_bytes : int
        Bytes downloaded.
    seconds : float
        Wall time of the whole fetch.
    """
    megabytes = n_bytes / 1e6
    rate = megabytes / seconds if seconds > 0 else float("inf")
    logger.info(
        "fetched %s -> %s: %.1f MB in %.2f s (%.1f MB/s)", source, dest, megabytes, seconds, rate
    )


def _log_summary(summary: dict[str, Any]) -> None:
    """Log a finished fetch's summary; CRLF line endings converted are also a warning."""
    logger.info("fetch summary: %s", summary)
    if summary["crlf_converted"]:
        logger.warning(
            "%s: %d Windows (CRLF) line endings converted to LF in %s",
            summary["source"],
            summary["crlf_converted"],
            summary["dest"],
        )


def fetch_genome(source: str, dest: str, sha256: str | None = None) -> dict[str, Any]:
    """Fetch a genome FASTA (see ``fetch_file``) and build its pyfaidx ``.fai`` index.

    Parameters
    ----------
    source : str
        URL or local path of a plain, gzip or bgzip FASTA.
    dest : str
        Output FASTA, decompressed; ``dest + ".fai"`` is written beside it.
    sha256 : str, optional
        Expected checksum of the bytes as downloaded.

    Returns
    -------
    dict
        ``fetch_file``'s summary plus ``records`` (name → length).

    Raises
    ------
    InputError
        If the FASTA cannot be indexed (e.g. duplicate record names); no output remains.
    """
    summary = fetch_file(source, dest, sha256=sha256, kind="fasta")
    try:
        fasta = pyfaidx.Fasta(dest, rebuild=True)
    except (pyfaidx.FastaIndexingError, ValueError) as error:
        Path(dest).unlink(missing_ok=True)
        Path(dest + ".fai").unlink(missing_ok=True)
        raise InputError(
            f"cannot index the FASTA ({one_line(str(error))}); record names must be unique and "
            "lines of a record equally long",
            source,
        ) from None
    summary["records"] = {name: len(record) for name, record in fasta.records.items()}
    fasta.close()
    logger.info(
        "indexed %d FASTA records: %s",
        len(summary["records"]),
        dict(list(summary["records"].items())[:10]),
    )
    return summary
