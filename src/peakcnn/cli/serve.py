"""``peakcnn serve``: a local web page on the trained models of one or more results folders."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

from peakcnn.apply.cli import run_reporting_errors
from peakcnn.errors import InputError

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand."""
    from peakcnn.web.analysis import ISM_WIDTH, REFERENCES

    parser = subparsers.add_parser(
        "serve",
        help="a local web page: score and explain sequences, browse a run's results",
        description="Serve the trained models of one or more results folders on a web page: "
        "paste a sequence or type chrom:start-end to see its score per task, a SHAP logo, an "
        "in-silico mutagenesis heatmap and single-base what-ifs; browse each run's metrics, "
        "plots, model comparison, motifs and split. Listens on 127.0.0.1 only unless --public.",
    )
    parser.add_argument("results", nargs="+", help="results folder(s) of the workflow")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="port (default 8050; 0: any free)")
    parser.add_argument(
        "--public",
        action="store_true",
        help="allow a --host other than this machine (e.g. 0.0.0.0): anyone who reaches the "
        "port can use the page",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    parser.add_argument(
        "--shap-references",
        type=int,
        default=REFERENCES,
        help=f"dinucleotide shuffles each window is explained against (default {REFERENCES})",
    )
    parser.add_argument(
        "--ism-width",
        type=int,
        default=ISM_WIDTH,
        help=f"central bases mutated by the in-silico mutagenesis (default {ISM_WIDTH})",
    )
    return parser


def is_loopback(host: str) -> bool:
    """Whether a host name or address only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, public: bool) -> None:
    """Refuse to listen beyond this machine unless ``--public`` says so."""
    if not public and not is_loopback(host):
        raise InputError(
            f"--host {host} would open the page to other machines; pass --public to allow it, "
            "or keep the default 127.0.0.1"
        )


def run(args: argparse.Namespace) -> int:
    """Run ``peakcnn serve`` until interrupted."""
    return run_reporting_errors("serve", lambda: _serve(args))


def _serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from peakcnn.devices import resolve_device, set_threads
    from peakcnn.web.analysis import Limits
    from peakcnn.web.app import create_app

    check_host(args.host, args.public)
    limits = Limits(references=args.shap_references, ism_width=args.ism_width)
    set_threads(args.threads)
    app = create_app(args.results, limits=limits, device=str(resolve_device(args.device)))
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as error:
        raise InputError(
            f"cannot listen on {args.host}:{args.port} ({error.strerror}); choose another --port"
        ) from None
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"peakcnn serve: http://{host}:{server.server_port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("peakcnn serve: stopped", file=sys.stderr)
    return 0
