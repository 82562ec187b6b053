"""Open and read a fetch source (URL or local path), with one-line errors for failed transfers.

Only the standard library is used: ``urllib.request`` for ``http://``, ``https://``, ``ftp://``
and ``file://`` URLs, plain ``open`` for local paths.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import IO

from peakcnn import __version__
from peakcnn.errors import InputError

TIMEOUT_S = 60.0
"""Seconds a connection may stay silent before the download is abandoned."""

URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
"""A URL's scheme (group 1); a source that does not match is a local path."""

URL_SCHEMES = ("http", "https", "ftp", "file")


def download(
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
    if not URL_RE.match(source):
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
    return InputError(one_line(f"download failed: {cause}; {fix}"), path=source)


def one_line(text: str) -> str:
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
