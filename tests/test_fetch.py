"""Tests for peakcnn.data.fetch against real local servers (HTTP, HTTPS, FTP) and real files."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import http.server
import ipaddress
import logging
import os
import ssl
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from peakcnn.data.fetch import fetch_file
from peakcnn.errors import InputError

FASTA = b">chr1 test\nACGTACGTNN\nacgt\n>chr2\nGGGGCCCCAT\n"
BED = b"chr1\t10\t20\tpeak1\nchr2\t5\t8\tpeak2\n"
PROXY_VARS = ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure requests to 127.0.0.1 never go through a proxy from the environment."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def srv(tmp_path: Path) -> Path:
    path = tmp_path / "srv"
    path.mkdir()
    return path


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files, plus /short: a response that promises more bytes than it sends."""

    def do_GET(self) -> None:
        if self.path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"chr1\t1\t2\n")
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(server: http.server.ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_url(srv: Path) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_Handler, directory=str(srv))
    )
    for port in _serve(server):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    x509 = pytest.importorskip("cryptography.x509", reason="needs the cryptography package")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "peakcnn test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "key.pem"}
    files["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {name: str(path) for name, path in files.items()}


@pytest.fixture
def https_url(srv: Path, tls_files: dict[str, str]) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["cert"], tls_files["key"])
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_Handler, directory=str(srv))
    )
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for port in _serve(server):
        yield f"https://127.0.0.1:{port}"


@pytest.fixture
def ftp_url(srv: Path) -> Iterator[str]:
    pytest.importorskip("pyftpdlib", reason="pyftpdlib is not installed (test dependency)")
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(str(srv))
    handler = type("_TestFTPHandler", (FTPHandler,), {"authorizer": authorizer})
    server = FTPServer(("127.0.0.1", 0), handler)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"ftp://127.0.0.1:{server.address[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# --- HTTP -------------------------------------------------------------------------------------


def test_http_plain_fasta(
    http_url: str, srv: Path, out: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (srv / "genome.fa").write_bytes(FASTA)
    dest = out / "genome.fa"
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="peakcnn.data.fetch"):
        info = fetch_file(f"{http_url}/genome.fa", str(dest), kind="fasta")
    elapsed = time.monotonic() - start
    assert dest.read_bytes() == FASTA
    assert _listing(out) == ["genome.fa"]
    assert info["source"] == f"{http_url}/genome.fa"
    assert info["dest"] == str(dest)
    assert info["bytes_downloaded"] == len(FASTA) == info["bytes_written"]
    assert info["compressed"] is False
    assert info["sha256"] == _sha(FASTA)
    assert info["sha256_verified"] is False
    assert info["crlf_converted"] == 0
    assert 0 < info["seconds"] <= elapsed
    assert any("MB/s" in record.getMessage() for record in caplog.records)


def test_http_gzip_bed(http_url: str, srv: Path, out: Path) -> None:
    raw = _gz(BED)
    (srv / "peaks.bed.gz").write_bytes(raw)
    info = fetch_file(f"{http_url}/peaks.bed.gz", str(out / "peaks.bed"))
    assert (out / "peaks.bed").read_bytes() == BED
    assert info["compressed"] is True
    assert info["bytes_downloaded"] == len(raw)
    assert info["bytes_written"] == len(BED)


def test_http_bgzip_style_multi_member(http_url: str, srv: Path, out: Path) -> None:
    parts = [b">chr1\nACGTACGT\n", b"ACGTNNNN\n>chr2\n", b"GGGGCCCC\n"]
    raw = b"".join(_gz(part) for part in parts) + _gz(b"")  # empty member, like the BGZF EOF
    (srv / "genome.fa.gz").write_bytes(raw)
    info = fetch_file(f"{http_url}/genome.fa.gz", str(out / "genome.fa"), kind="fasta")
    assert (out / "genome.fa").read_bytes() == b"".join(parts)
    assert info["compressed"] is True


@pytest.mark.parametrize(
    ("name", "payload", "compressed"),
    [("peaks.bed", _gz(BED), True), ("peaks.bed.gz", BED, False)],
)
def test_compression_detected_by_magic_not_name(
    http_url: str, srv: Path, out: Path, name: str, payload: bytes, compressed: bool
) -> None:
    (srv / name).write_bytes(payload)
    info = fetch_file(f"{http_url}/{name}", str(out / "peaks.bed"))
    assert (out / "peaks.bed").read_bytes() == BED
    assert info["compressed"] is compressed


def test_checksum_verified(http_url: str, srv: Path, out: Path) -> None:
    raw = _gz(BED)
    (srv / "peaks.bed.gz").write_bytes(raw)
    expected = _sha(raw).upper()  # digest of the compressed bytes; case does not matter
    info = fetch_file(f"{http_url}/peaks.bed.gz", str(out / "peaks.bed"), sha256=expected)
    assert info["sha256_verified"] is True
    assert info["sha256"] == _sha(raw)
    assert (out / "peaks.bed").read_bytes() == BED


def test_checksum_mismatch_leaves_nothing(http_url: str, srv: Path, out: Path) -> None:
    raw = _gz(BED)
    (srv / "peaks.bed.gz").write_bytes(raw)
    url = f"{http_url}/peaks.bed.gz"
    wrong = _sha(b"something else")
    with pytest.raises(InputError) as info:
        fetch_file(url, str(out / "peaks.bed"), sha256=wrong)
    message = str(info.value)
    assert url in message
    assert wrong in message
    assert _sha(raw) in message
    assert "config" in message
    assert "\n" not in message
    assert _listing(out) == []


def test_failure_keeps_existing_dest(http_url: str, srv: Path, out: Path) -> None:
    (srv / "peaks.bed").write_bytes(BED)
    dest = out / "peaks.bed"
    dest.write_bytes(b"old\t0\t1\n")
    with pytest.raises(InputError):
        fetch_file(f"{http_url}/peaks.bed", str(dest), sha256=_sha(b"not it"))
    assert dest.read_bytes() == b"old\t0\t1\n"
    assert _listing(out) == ["peaks.bed"]


def test_malformed_checksum_is_rejected(http_url: str, srv: Path, out: Path) -> None:
    (srv / "peaks.bed").write_bytes(BED)
    with pytest.raises(InputError, match="not a 64-digit"):
        fetch_file(f"{http_url}/peaks.bed", str(out / "peaks.bed"), sha256="abc123")
    assert _listing(out) == []


def test_http_404(http_url: str, out: Path) -> None:
    url = f"{http_url}/missing.bed"
    with pytest.raises(InputError) as info:
        fetch_file(url, str(out / "peaks.bed"))
    message = str(info.value)
    assert url in message
    assert "HTTP 404" in message
    assert "config" in message
    assert _listing(out) == []


def test_http_truncated_gzip(http_url: str, srv: Path, out: Path) -> None:
    raw = _gz(BED * 50)
    (srv / "peaks.bed.gz").write_bytes(raw[: len(raw) // 2])
    url = f"{http_url}/peaks.bed.gz"
    with pytest.raises(InputError) as info:
        fetch_file(url, str(out / "peaks.bed"), chunk_size=64)
    message = str(info.value)
    assert message.startswith(f"{url}: ")
    assert "truncated" in message
    assert "re-download" in message
    assert "\n" not in message
    assert _listing(out) == []


def test_http_connection_closed_early(http_url: str, out: Path) -> None:
    url = f"{http_url}/short"
    with pytest.raises(InputError) as info:
        fetch_file(url, str(out / "peaks.bed"))
    assert url in str(info.value)
    assert "closed early" in str(info.value)
    assert _listing(out) == []


def test_connection_refused(out: Path) -> None:
    import socket

    with socket.socket() as sock:  # find a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/peaks.bed"
    with pytest.raises(InputError, match="download failed") as info:
        fetch_file(url, str(out / "peaks.bed"), timeout=5)
    assert url in str(info.value)
    assert _listing(out) == []


# --- HTTPS ------------------------------------------------------------------------------------


def test_https_with_cafile(https_url: str, srv: Path, out: Path, tls_files: dict[str, str]) -> None:
    (srv / "peaks.bed.gz").write_bytes(_gz(BED))
    info = fetch_file(f"{https_url}/peaks.bed.gz", str(out / "peaks.bed"), cafile=tls_files["ca"])
    assert (out / "peaks.bed").read_bytes() == BED
    assert info["compressed"] is True


def test_https_with_ssl_cert_file(
    https_url: str,
    srv: Path,
    out: Path,
    tls_files: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", tls_files["ca"])
    (srv / "genome.fa").write_bytes(FASTA)
    fetch_file(f"{https_url}/genome.fa", str(out / "genome.fa"), kind="fasta")
    assert (out / "genome.fa").read_bytes() == FASTA


def test_https_untrusted_certificate(
    https_url: str, srv: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    (srv / "genome.fa").write_bytes(FASTA)
    url = f"{https_url}/genome.fa"
    with pytest.raises(InputError) as info:
        fetch_file(url, str(out / "genome.fa"), kind="fasta")
    message = str(info.value)
    assert url in message
    assert "certificate" in message
    assert "SSL_CERT_FILE" in message
    assert _listing(out) == []


# --- FTP, file:// and local paths -------------------------------------------------------------


def test_ftp_gzip(ftp_url: str, srv: Path, out: Path) -> None:
    raw = _gz(BED)
    (srv / "peaks.bed.gz").write_bytes(raw)
    info = fetch_file(f"{ftp_url}/peaks.bed.gz", str(out / "peaks.bed"), sha256=_sha(raw))
    assert (out / "peaks.bed").read_bytes() == BED
    assert info["sha256_verified"] is True
    assert info["bytes_downloaded"] == len(raw)


def test_ftp_missing_file(ftp_url: str, out: Path) -> None:
    url = f"{ftp_url}/missing.bed"
    with pytest.raises(InputError, match="download failed") as info:
        fetch_file(url, str(out / "peaks.bed"))
    assert url in str(info.value)
    assert _listing(out) == []


def test_file_url(srv: Path, out: Path) -> None:
    (srv / "genome.fa.gz").write_bytes(_gz(FASTA))
    info = fetch_file((srv / "genome.fa.gz").as_uri(), str(out / "genome.fa"), kind="fasta")
    assert (out / "genome.fa").read_bytes() == FASTA
    assert info["compressed"] is True


@pytest.mark.parametrize("relative", [True, False])
def test_local_path(
    tmp_path: Path, srv: Path, out: Path, monkeypatch: pytest.MonkeyPatch, relative: bool
) -> None:
    (srv / "peaks.bed").write_bytes(BED)
    monkeypatch.chdir(tmp_path)
    source = os.path.join("srv", "peaks.bed") if relative else str(srv / "peaks.bed")
    info = fetch_file(source, os.path.join("out", "sub", "peaks.bed"))
    assert (out / "sub" / "peaks.bed").read_bytes() == BED
    assert info["bytes_downloaded"] == len(BED)
    assert _listing(out / "sub") == ["peaks.bed"]


def test_local_path_missing(tmp_path: Path, out: Path) -> None:
    source = str(tmp_path / "nope.bed")
    with pytest.raises(InputError, match="file not found") as info:
        fetch_file(source, str(out / "peaks.bed"))
    assert str(info.value).startswith(f"{source}: ")
    assert _listing(out) == []


def test_unsupported_scheme(out: Path) -> None:
    with pytest.raises(InputError, match="unsupported URL scheme 's3://'"):
        fetch_file("s3://bucket/peaks.bed", str(out / "peaks.bed"))
    assert _listing(out) == []


# --- line endings -----------------------------------------------------------------------------

CRLF_FASTA = b">chr1 desc\r\nACGT\r\nAC\rGT\r\n\r\n>chr2\r\r\nTTTT\r\nGG\r"


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 6, 7, 1 << 20])
def test_crlf_converted(srv: Path, out: Path, compressed: bool, chunk_size: int) -> None:
    path = srv / "genome.fa"
    path.write_bytes(_gz(CRLF_FASTA) if compressed else CRLF_FASTA)
    info = fetch_file(str(path), str(out / "genome.fa"), kind="fasta", chunk_size=chunk_size)
    expected = b">chr1 desc\nACGT\nAC\rGT\n\n>chr2\r\nTTTT\nGG\r"  # lone CRs are kept as they are
    assert (out / "genome.fa").read_bytes() == expected
    assert info["crlf_converted"] == 6
    assert info["bytes_written"] == len(expected)


def test_crlf_split_exactly_at_chunk_boundary(srv: Path, out: Path) -> None:
    data = b">chr1\r\nACGTAC\r\n"
    chunk_size = 6
    assert data[chunk_size - 1 : chunk_size + 1] == b"\r\n"  # the CRLF straddles chunks 1 and 2
    (srv / "genome.fa").write_bytes(data)
    info = fetch_file(str(srv / "genome.fa"), str(out / "g.fa"), kind="fasta", chunk_size=6)
    assert (out / "g.fa").read_bytes() == b">chr1\nACGTAC\n"
    assert info["crlf_converted"] == 2


def test_crlf_count_is_in_the_logged_fetch_summary(
    srv: Path, out: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (srv / "peaks.bed").write_bytes(b"chr1\t1\t5\r\nchr1\t7\t9\r\nchr1\t10\t12\n")
    with caplog.at_level(logging.INFO, logger="peakcnn.data.fetch"):
        fetch_file(str(srv / "peaks.bed"), str(out / "p.bed"), kind="bed")
    summary = [r.getMessage() for r in caplog.records if "fetch summary" in r.getMessage()]
    assert len(summary) == 1 and "'crlf_converted': 2" in summary[0]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{srv / 'peaks.bed'}: 2 Windows (CRLF) line endings converted to LF in {out / 'p.bed'}"
    ]


# --- content checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(("prefix", "line"), [(b"", 1), (b"\n\n", 3)])
def test_not_fasta(srv: Path, out: Path, prefix: bytes, line: int) -> None:
    source = str(srv / "genome.fa.gz")
    Path(source).write_bytes(_gz(prefix + BED))
    with pytest.raises(InputError) as info:
        fetch_file(source, str(out / "genome.fa"), kind="fasta")
    message = str(info.value)
    assert message.startswith(f"{source}:{line}: not FASTA (expected a '>' header)")
    assert "chr1\\t10" in message  # shows the offending line
    assert _listing(out) == []


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"chr1 10 20\n", 1),  # spaces, not tabs
        (b"chr1\t10\n", 1),  # two fields
        (b"chr1\tten\t20\n", 1),  # non-integer start
        (b"chr1\t10\t-20\n", 1),  # negative end
        (b"#comment\ntrack name=x\nbrowser position chr1\nchrom\tstart\tend\n", 4),  # header
        (b">chr1\nACGT\n", 1),  # a FASTA given as BED
    ],
)
def test_malformed_bed(srv: Path, out: Path, content: bytes, line: int) -> None:
    source = str(srv / "peaks.bed")
    Path(source).write_bytes(content)
    with pytest.raises(InputError) as info:
        fetch_file(source, str(out / "peaks.bed"))
    message = str(info.value)
    assert message.startswith(f"{source}:{line}: not BED")
    assert "tab-separated" in message
    assert "\n" not in message
    assert _listing(out) == []


def test_bed_header_lines_are_skipped(srv: Path, out: Path) -> None:
    content = b"#chrom\tstart\tend\ntrack name=peaks\nbrowser hide all\n\n" + BED
    (srv / "peaks.bed").write_bytes(content)
    fetch_file(str(srv / "peaks.bed"), str(out / "peaks.bed"))
    assert (out / "peaks.bed").read_bytes() == content


@pytest.mark.parametrize("kind", ["fasta", "bed"])
@pytest.mark.parametrize("content", [b"", _gz(b""), b"\n\n  \n"])
def test_empty_file(srv: Path, out: Path, kind: str, content: bytes) -> None:
    source = str(srv / "empty")
    Path(source).write_bytes(content)
    with pytest.raises(InputError) as info:
        fetch_file(source, str(out / "x"), kind=kind)
    message = str(info.value)
    assert message.startswith(f"{source}: no data lines")
    assert kind.upper() in message
    assert _listing(out) == []


def test_bed_with_only_comments_is_empty(srv: Path, out: Path) -> None:
    source = str(srv / "peaks.bed")
    Path(source).write_bytes(b"#chrom\tstart\tend\ntrack name=x\n")
    with pytest.raises(InputError, match="only 2 header/comment line"):
        fetch_file(source, str(out / "peaks.bed"))
    assert _listing(out) == []


def test_long_first_line_is_checked_without_reading_it_whole(srv: Path, out: Path) -> None:
    content = b">chr1\n" + b"ACGT" * 100_000 + b"\n"  # an unwrapped sequence line
    (srv / "genome.fa").write_bytes(content)
    fetch_file(str(srv / "genome.fa"), str(out / "genome.fa"), kind="fasta", chunk_size=4096)
    assert (out / "genome.fa").read_bytes() == content


def test_bad_kind_is_a_programming_error(srv: Path, out: Path) -> None:
    (srv / "peaks.bed").write_bytes(BED)
    with pytest.raises(ValueError, match="kind must be one of"):
        fetch_file(str(srv / "peaks.bed"), str(out / "peaks.bed"), kind="vcf")
