"""A fetched file's content: gzip detection, decompression with CRLF → LF, first-line checks.

Compression is detected from the magic bytes, never from the name; plain, gzip and bgzip
(multi-member gzip) content are all read.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable, Iterator
from typing import IO

from peakcnn.data.intervals import HEADER_PREFIXES
from peakcnn.data.transfer import one_line
from peakcnn.errors import InputError

_GZIP_MAGIC = b"\x1f\x8b"
_HEAD_LIMIT = 4096
_BED_HEADER_PREFIXES = tuple(prefix.encode() for prefix in HEADER_PREFIXES)
_UINT_RE = re.compile(rb"^[0-9]+$")


def is_gzip(path: str) -> bool:
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


def decompress(
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
        Temporary file to fill.
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
    with opener(src_path, "rb") as src, open(out_path, "wb") as out:
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
                one_line(
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


def check_first_data_line(source: str, path: str, kind: str) -> None:
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
