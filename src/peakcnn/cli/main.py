"""``peakcnn`` console script: one subcommand per module of ``peakcnn.cli``.

Each module ``peakcnn.cli.<name>`` defines ``add_parser(subparsers)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ["predict", "scan", "variants", "export"]


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every subcommand's parser."""
    parser = argparse.ArgumentParser(prog="peakcnn", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"peakcnn.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand; return its exit code."""
    args = build_parser().parse_args(argv)
    return importlib.import_module(f"peakcnn.cli.{args.command}").run(args)


if __name__ == "__main__":
    sys.exit(main())
