"""``peakcnn`` entry point: builds one argparse subcommand per module of ``SUBCOMMANDS``.

A subcommand module ``peakcnn.cli.<name>`` defines ``add_parser(subparsers)``, which adds its
parser as ``subparsers.add_parser("<name>", ...)``, and ``run(args) -> int``, the exit status.
Bad input raised as :class:`peakcnn.errors.InputError` ends the command with one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from peakcnn import __version__
from peakcnn.errors import InputError

#: Subcommand modules of peakcnn.cli, in the order ``peakcnn --help`` lists them.
SUBCOMMANDS = ["init", "predict", "scan", "variants", "explain", "export", "compress", "serve"]


def build_parser() -> argparse.ArgumentParser:
    """Build the ``peakcnn`` parser: each subcommand sets ``args.run`` to its module's ``run``."""
    parser = argparse.ArgumentParser(
        prog="peakcnn",
        description="peakcnn: peaks + genome to a trained, evaluated and explained CNN. "
        "The workflow itself runs with snakemake; these commands help around it.",
    )
    parser.add_argument("--version", action="version", version=f"peakcnn {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"peakcnn.cli.{name}")
        module.add_parser(subparsers)
        subparsers.choices[name].set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``peakcnn`` with ``argv`` (default: the command line); bad input exits 2 in one line."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except InputError as error:
        print(f"peakcnn: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
