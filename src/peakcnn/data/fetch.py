"""Fetch one input file: download or copy, verify, decompress, normalise and sanity-check it.

The transfer uses only the standard library (``urllib.request`` for ``http://``, ``https://``,
``ftp://`` and ``file://`` URLs, plain ``open`` for local paths). The input may be plain, gzip or
bgzip (multi-member gzip); compression is detected from the magic bytes, never from the name.
The destination is always written decompressed, with Windows (CRLF) line endings turned into LF.
Nothing partial is ever left at the destination: every step writes to a temporary file next to
it, and only a complete, checked file is moved into place with :func:`os.replace`.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import re
import secrets
import ssl
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any

import pyfaidx

from peakcnn import __version__
from peakcnn.errors import InputError

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
"""Bytes read and written per step; files are streamed, never loaded whole."""

TIMEOUT_S = 60.0
"""Seconds a connection may stay silent before the download is abandoned."""

KINDS = ("fasta", "bed")

_GZIP_MAGIC = b"\x1f\x8b"
_HEAD_LIMIT = 4096
_BED_HEADER_PREFIXES = (b"#", b"track", b"browser")
_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_URL_SCHEMES = ("http", "https", "ftp", "file")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_UINT_RE = re.compile(rb"^[0-9]+$")


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
    dest_dir = os.path.dirname(os.path.abspath(dest))
    os.makedirs(dest_dir, exist_ok=True)
    start = time.monotonic()
    temps: list[str] = []
    try:
        downloaded = _temp_path(dest, "download", temps)
        n_down, digest = _download(source, downloaded, cafile, chunk_size, timeout)
        _verify_sha256(source, expected, digest)
        compressed = _is_gzip(downloaded)
        written = _temp_path(dest, "part", temps)
        n_written, n_crlf = _decompress(source, downloaded, written, compressed, chunk_size)
        _check_first_data_line(source, written, kind)
        os.replace(written, dest)
        temps.remove(written)
    finally:
        for path in temps:
            _remove_quietly(path)
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
    match = _URL_RE.match(source)
    if match and match.group(1).lower() not in _URL_SCHEMES:
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


def _temp_path(dest: str, tag: str, temps: list[str]) -> str:
    """Choose a fresh temporary file name next to ``dest`` and record it for clean-up.

    Parameters
    ----------
    dest : str
        The final destination; the temporary file goes in the same folder so that
        :func:`os.replace` is atomic.
    tag : str
        Short label in the name (``"download"`` or ``"part"``).
    temps : list of str
        The name is appended here, so the caller can remove it whatever happens.

    Returns
    -------
    str
        A path that does not exist yet; it is created with mode ``"xb"`` (honouring the umask).
    """
    folder, name = os.path.split(os.path.abspath(dest))
    path = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.{tag}.tmp")
    temps.append(path)
    return path


def _remove_quietly(path: str) -> None:
    """Remove ``path`` if it exists, ignoring a file that is already gone.

    Parameters
    ----------
    path : str
        The file to remove.
    """
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _download(
    source: str, path: str, cafile: str | None, chunk_size: int, timeout: float
) -> tuple[int, str]:
    """Copy the raw bytes of ``source`` into the new file ``path``, hashing them on the way.

    Parameters
    ----------
    source : str
        URL or local path.
    path : str
        Temporary file to create and fill.
    cafile : str or None
        Extra certificate authorities for ``https://``.
    chunk_size : int
        Bytes per read.
    timeout : float
        Network timeout in seconds.

    Returns
    -------
    tuple of (int, str)
        Number of bytes copied and their SHA-256 hex digest.
    """
    digest = hashlib.sha256()
    n_bytes = 0
    with _open_source(source, cafile, timeout) as src, open(path, "xb") as out:
        for chunk in _read_source(source, src, chunk_size, timeout):
            digest.update(chunk)
            out.write(chunk)
            n_bytes += len(chunk)
        _check_length(source, src, n_bytes)
    return n_bytes, digest.hexdigest()


def _check_length(source: str, src: IO[bytes], n_bytes: int) -> None:
    """Check the number of bytes received against the announced ``Content-Length``.

    ``http.client`` does not complain when a server closes the connection early while the
    body is read in chunks, so a short download would otherwise pass unnoticed.

    Parameters
    ----------
    source : str
        URL or path, for messages.
    src : IO[bytes]
        The stream read; only URL responses carry headers.
    n_bytes : int
        Bytes received.

    Raises
    ------
    InputError
        If fewer or more bytes arrived than announced.
    """
    headers = getattr(src, "headers", None)
    announced = headers.get("Content-Length") if headers is not None else None
    if announced is None or not announced.strip().isdigit() or int(announced) == n_bytes:
        return
    raise InputError(
        f"download failed: connection closed early ({n_bytes} of {int(announced)} bytes "
        "received); retry, and if it keeps failing download the file by hand and give its "
        "local path",
        path=source,
    )


def _open_source(source: str, cafile: str | None, timeout: float) -> IO[bytes]:
    """Open ``source`` for reading raw bytes.

    Parameters
    ----------
    source : str
        URL (``http``, ``https``, ``ftp``, ``file``) or local path.
    cafile : str or None
        Extra certificate authorities for ``https://``; ``None`` means the system trust.
    timeout : float
        Network timeout in seconds.

    Returns
    -------
    IO[bytes]
        A readable binary stream; the caller closes it.

    Raises
    ------
    InputError
        If the source cannot be opened (missing file, HTTP error, refused connection, ...).
    """
    if not _URL_RE.match(source):
        try:
            return open(source, "rb")
        except FileNotFoundError as exc:
            raise InputError(
                f"file not found (relative paths are relative to {os.getcwd()}); "
                "fix the path in the config",
                path=source,
            ) from exc
        except OSError as exc:
            raise InputError(
                f"cannot read: {exc.strerror}; fix the path in the config", path=source
            ) from exc
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(source, headers={"User-Agent": f"peakcnn/{__version__}"})
    try:
        return opener.open(request, timeout=timeout)
    except (OSError, http.client.HTTPException) as exc:
        raise _transfer_error(source, exc, timeout) from exc


def _read_source(source: str, src: IO[bytes], chunk_size: int, timeout: float) -> Iterator[bytes]:
    """Yield the bytes of an open source in chunks, turning transfer failures into InputError.

    Parameters
    ----------
    source : str
        URL or path, for messages.
    src : IO[bytes]
        The open stream.
    chunk_size : int
        Bytes per read.
    timeout : float
        Network timeout in seconds, for messages.

    Yields
    ------
    bytes
        Non-empty chunks, in order.
    """
    while True:
        try:
            chunk = src.read(chunk_size)
        except (OSError, http.client.HTTPException) as exc:
            raise _transfer_error(source, exc, timeout) from exc
        if not chunk:
            return
        yield chunk


def _transfer_error(source: str, exc: BaseException, timeout: float) -> InputError:
    """Build the one-line InputError for a failed transfer.

    Parameters
    ----------
    source : str
        URL or path that failed.
    exc : BaseException
        What ``urllib``, ``http.client`` or the socket raised.
    timeout : float
        Network timeout in seconds, for messages.

    Returns
    -------
    InputError
        The error to raise, naming the source, the cause and what to do.
    """
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    fix = "check the URL in the config, or download the file by hand and give its local path"
    if isinstance(exc, urllib.error.HTTPError):
        cause = f"HTTP {exc.code} {exc.reason}"
    elif isinstance(reason, ssl.SSLCertVerificationError):
        cause = f"TLS certificate verification failed ({reason.verify_message})"
        fix = (
            "if the server uses a private certificate authority, point SSL_CERT_FILE "
            "at its PEM certificate; otherwise check the URL in the config"
        )
    elif isinstance(reason, TimeoutError):
        cause = f"no data for {timeout:g} s"
        fix = "check the network (proxy, firewall) and retry, or download the file by hand"
    elif isinstance(exc, http.client.IncompleteRead):
        cause = f"connection closed early ({len(exc.partial)} bytes in the last read, "
        cause += f"{exc.expected} more expected)"
        fix = "retry; if it keeps failing, download the file by hand and give its local path"
    else:
        cause = str(reason) or type(reason).__name__
    return InputError(_one_line(f"download failed: {cause}; {fix}"), path=source)


def _one_line(text: str) -> str:
    """Collapse all whitespace runs (newlines included) into single spaces.

    Parameters
    ----------
    text : str
        Any message.

    Returns
    -------
    str
        The message on one line.
    """
    return " ".join(text.split())


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


def _is_gzip(path: str) -> bool:
    """Tell whether a file starts with the gzip magic bytes (gzip and bgzip both do).

    Parameters
    ----------
    path : str
        The file to inspect.

    Returns
    -------
    bool
        ``True`` if the first two bytes are ``1f 8b``.
    """
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _decompress(
    source: str, src_path: str, out_path: str, compressed: bool, chunk_size: int
) -> tuple[int, int]:
    """Stream ``src_path`` into the new file ``out_path``, gunzipped and with LF line endings.

    Parameters
    ----------
    source : str
        URL or path, for messages.
    src_path : str
        The downloaded bytes.
    out_path : str
        Temporary file to create and fill.
    compressed : bool
        Whether ``src_path`` is gzip (single or multi-member, as bgzip).
    chunk_size : int
        Bytes per read.

    Returns
    -------
    tuple of (int, int)
        Bytes written and number of CRLF line endings converted.
    """
    n_written = 0
    n_crlf = 0
    opener = gzip.open if compressed else open
    with opener(src_path, "rb") as src, open(out_path, "xb") as out:
        for data, n_converted in _crlf_to_lf(_read_decompressed(source, src, chunk_size)):
            out.write(data)
            n_written += len(data)
            n_crlf += n_converted
    return n_written, n_crlf


def _read_decompressed(source: str, src: IO[bytes], chunk_size: int) -> Iterator[bytes]:
    """Yield chunks of a (possibly gzip) stream, turning gzip failures into InputError.

    Parameters
    ----------
    source : str
        URL or path, for messages.
    src : IO[bytes]
        A plain file or a :class:`gzip.GzipFile`.
    chunk_size : int
        Bytes per read.

    Yields
    ------
    bytes
        Non-empty decompressed chunks, in order.

    Raises
    ------
    InputError
        If the gzip data ends early or is corrupt.
    """
    while True:
        try:
            chunk = src.read(chunk_size)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise InputError(
                _one_line(
                    f"gzip data is truncated or corrupt ({exc}); re-download the file "
                    "(and check it against its published checksum)"
                ),
                path=source,
            ) from exc
        if not chunk:
            return
        yield chunk


def _crlf_to_lf(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, int]]:
    """Replace CRLF line endings by LF in a stream of chunks.

    A CR at the end of a chunk is held back until the next chunk shows whether an LF follows,
    so a CRLF split across two chunks is still converted. A lone CR is kept as it is.

    Parameters
    ----------
    chunks : iterable of bytes
        The stream, in order.

    Yields
    ------
    tuple of (bytes, int)
        Converted data and the number of CRLF endings converted in it.
    """
    carry = b""
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        carry = b""
        if data.endswith(b"\r"):
            data, carry = data[:-1], b"\r"
        n_crlf = data.count(b"\r\n")
        yield (data.replace(b"\r\n", b"\n") if n_crlf else data), n_crlf
    if carry:
        yield carry, 0


def _line_heads(fh: IO[bytes], limit: int = _HEAD_LIMIT) -> Iterator[tuple[int, bytes]]:
    """Yield the line number and the first ``limit`` bytes of each line, without its ending.

    The rest of an over-long line (such as an unwrapped chromosome) is skipped without being
    held in memory.

    Parameters
    ----------
    fh : IO[bytes]
        An open binary file.
    limit : int, optional
        Bytes kept per line.

    Yields
    ------
    tuple of (int, bytes)
        1-based line number and the start of the line.
    """
    lineno = 0
    while line := fh.readline(limit):
        lineno += 1
        if not line.endswith(b"\n"):
            while (rest := fh.readline(limit)) and not rest.endswith(b"\n"):
                pass
        yield lineno, line.rstrip(b"\r\n")


def _check_first_data_line(source: str, path: str, kind: str) -> None:
    """Check that the first data line of the decompressed file looks like ``kind``.

    Blank lines are skipped; for BED, so are ``#``, ``track`` and ``browser`` header lines.

    Parameters
    ----------
    source : str
        URL or path, for messages.
    path : str
        The decompressed file.
    kind : {"bed", "fasta"}
        The expected format.

    Raises
    ------
    InputError
        If there is no data line, or the first one is not of the expected kind.
    """
    n_headers = 0
    with open(path, "rb") as fh:
        for lineno, head in _line_heads(fh):
            if not head.strip():
                continue
            if kind == "bed" and head.startswith(_BED_HEADER_PREFIXES):
                n_headers += 1
                continue
            if kind == "fasta":
                _check_fasta_header(source, lineno, head)
            else:
                _check_bed_line(source, lineno, head)
            return
    what = f"only {n_headers} header/comment line(s)" if n_headers else "the file is empty"
    raise InputError(
        f"no data lines ({what} after decompression); expected {kind.upper()} content: "
        "fix the source in the config",
        path=source,
    )


def _check_fasta_header(source: str, lineno: int, head: bytes) -> None:
    """Check that a line is a FASTA header.

    Parameters
    ----------
    source : str
        URL or path, for messages.
    lineno : int
        Line number, for messages.
    head : bytes
        Start of the line.

    Raises
    ------
    InputError
        If the line does not start with ``>``.
    """
    if head.startswith(b">"):
        return
    raise InputError(
        f"not FASTA (expected a '>' header), got {_snippet(head)}; point the genome source "
        "in the config at a FASTA file (plain, gzip or bgzip)",
        path=source,
        line=lineno,
    )


def _check_bed_line(source: str, lineno: int, head: bytes) -> None:
    """Check that a line has at least 3 tab-separated fields with integer start and end.

    Parameters
    ----------
    source : str
        URL or path, for messages.
    lineno : int
        Line number, for messages.
    head : bytes
        Start of the line.

    Raises
    ------
    InputError
        If the line is not a BED data line.
    """
    fields = head.split(b"\t")
    if len(fields) >= 3 and _UINT_RE.match(fields[1]) and _UINT_RE.match(fields[2]):
        return
    raise InputError(
        "not BED: expected at least 3 tab-separated fields (chrom, start, end) with "
        f"non-negative integer start and end, got {_snippet(head)}; fix the file (tabs, not "
        "spaces; header lines must start with '#', 'track' or 'browser') or the source",
        path=source,
        line=lineno,
    )


def _snippet(head: bytes, width: int = 60) -> str:
    """Show the start of a line safely in a one-line message.

    Parameters
    ----------
    head : bytes
        The line.
    width : int, optional
        Characters kept.

    Returns
    -------
    str
        The ``repr`` of the decoded start of the line (tabs and odd bytes made visible).
    """
    text = head[:width].decode("utf-8", errors="replace")
    return repr(text + ("..." if len(head) > width else ""))


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
        _remove_quietly(dest)
        _remove_quietly(dest + ".fai")
        raise InputError(
            f"cannot index the FASTA ({_one_line(str(error))}); record names must be unique and "
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
