"""``peakcnn init``: write a commented config file for a new dataset, to run with --configfile.

The file holds only a ``datasets:`` section (same format as config/config.yaml's); every other
section keeps its default. Sources are checked (a local file must exist; URLs are kept as
given) and the result is validated against config/config.schema.yaml before it is written.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

import jsonschema
import yaml

from peakcnn.errors import InputError

#: The project checkout this package belongs to (src/peakcnn/cli/init.py -> the repository).
PROJECT = Path(__file__).resolve().parents[3]
SCHEMA = PROJECT / "config" / "config.schema.yaml"
URL = re.compile(r"^(https?|ftp|file)://", re.IGNORECASE)
SOURCE_NOTES = {
    "genome": "URL (http, https, ftp, file://) or local path; plain, gzip or bgzip.",
    "peaks": "BED (3+ columns) or narrowPeak (summit offset in column 10).",
}
HEADER = """\
# peakcnn config for dataset {name}, written by `peakcnn init`. Run it from the project folder:
#   snakemake --cores 8 --configfile {out}
# Only `datasets:` is set here: every other section (models, windows, split, negatives, train,
# evaluate, select, attribute, motifs) keeps its default from config/config.yaml. To change
# one, copy that section here and edit it; config/README.md documents every key, and
# config/config.schema.yaml checks them before anything runs. Results go to results/{name}/.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``init`` subcommand."""
    parser = subparsers.add_parser(
        "init",
        help="write a config file for a new genome and peak set(s)",
        description="Write a commented config file (only a datasets: section) for a genome "
        "and one peak file, or several peak files as tasks of one multi-task dataset.",
    )
    parser.add_argument("--genome", required=True, help="genome FASTA: local path or URL")
    parser.add_argument(
        "--peaks",
        required=True,
        nargs="+",
        help="peak file(s), BED or narrowPeak: local path or URL; several make one task each, "
        "named after the file",
    )
    parser.add_argument(
        "--name", help="dataset name (results/<name>/); default: from the (first) peak file"
    )
    parser.add_argument("--out", type=Path, help="file to write (default: config/<name>.yaml)")


def run(args: argparse.Namespace) -> int:
    """Write the config file and print how to run it."""
    schema = load_schema()
    name = args.name or file_stem(args.peaks[0])
    check_name(name, "dataset name", schema)
    out = args.out or Path("config") / f"{name}.yaml"
    if out.exists():
        raise InputError("exists already: remove it or choose another --out", str(out))
    dataset = {"genome": source_entry(args.genome, "--genome")}
    if len(args.peaks) == 1:
        dataset["peaks"] = source_entry(args.peaks[0], "--peaks")
    else:
        dataset["peaks"] = task_entries(args.peaks, schema)
    datasets = {name: dataset}
    validate(datasets, schema)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(name, dataset, out))
    print(f"wrote {out}; run it with:\n  {snakemake_command()} --cores 8 --configfile {out}")
    return 0


def snakemake_command() -> str:
    """Say how to call the snakemake beside this python: by name when PATH finds it."""
    beside = Path(sys.executable).parent / "snakemake"
    if not beside.is_file() or shutil.which("snakemake") == str(beside):
        return "snakemake"
    return os.path.relpath(beside) if beside.is_relative_to(Path.cwd()) else str(beside)


def load_schema() -> dict:
    """Read the config schema of this checkout."""
    if not SCHEMA.is_file():
        raise InputError("not found: peakcnn init runs from a peakcnn checkout", str(SCHEMA))
    return yaml.safe_load(SCHEMA.read_text())


def file_stem(source: str) -> str:
    """Make a name of a file name: without folders and .gz/.bed/.narrowPeak-like suffixes."""
    stem = re.sub(r"\.gz$|\.bgz$", "", source.rstrip("/").rsplit("/", 1)[-1], flags=re.IGNORECASE)
    stem = re.sub(r"\.(bed|narrowpeak|broadpeak|txt|tsv)$", "", stem, flags=re.IGNORECASE)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.-") or "dataset"


def check_name(name: str, what: str, schema: dict) -> None:
    """Refuse a dataset or task name the schema does not allow, in one line."""
    pattern = schema["properties"]["datasets"]["propertyNames"]["pattern"]
    if not re.fullmatch(pattern, name):
        raise InputError(f"{what} {name!r} is not valid: use letters, digits, '_', '.' or '-'")


def source_entry(source: str, option: str) -> dict:
    """Make a source entry (``sha256: null``): a URL as given, a local file made absolute."""
    if URL.match(source):
        return {"source": source, "sha256": None}
    path = Path(source).expanduser()
    if not path.is_file():
        raise InputError(f"{option}: no such file: give an existing file or a URL", source)
    return {"source": str(path.resolve()), "sha256": None}


def task_entries(sources: list[str], schema: dict) -> dict:
    """Map task names (from the file names) to source entries, for several peak files."""
    tasks = {}
    for source in sources:
        task = file_stem(source)
        check_name(task, f"task name (from {source})", schema)
        if task in tasks or task in ("source", "sha256"):
            raise InputError(f"--peaks: two files make task name {task!r}: rename one", source)
        tasks[task] = source_entry(source, "--peaks")
    return tasks


def validate(datasets: dict, schema: dict) -> None:
    """Check the datasets section against the schema's (one line on failure)."""
    section = {**schema["properties"]["datasets"], "$defs": schema.get("$defs", {})}
    try:
        jsonschema.validate(datasets, section)
    except jsonschema.ValidationError as error:
        raise InputError(f"datasets: {error.message}") from None


def render(name: str, dataset: dict, out: Path) -> str:
    """Write the commented YAML text of the config file."""
    lines = [HEADER.format(name=name, out=out), "datasets:", f"  {name}:"]
    for kind in ("genome", "peaks"):
        lines.append(f"    {kind}:")
        entries = dataset[kind]
        if "source" in entries:
            lines += source_lines(entries, kind, "      ")
        else:
            lines.append("      # One peak set per task: multi-task labels (config/README.md).")
            for task, entry in entries.items():
                lines.append(f"      {task}:")
                lines += source_lines(entry, kind, "        ")
    return "\n".join(lines) + "\n"


def source_lines(entry: dict, kind: str, indent: str) -> list[str]:
    """Write the commented lines of one source entry."""
    return [
        f"{indent}# {SOURCE_NOTES[kind]}",
        f"{indent}source: {scalar(entry['source'])}",
        f"{indent}# sha256 of the file as downloaded (optional; null skips the check).",
        f"{indent}sha256: null",
    ]


def scalar(value: str) -> str:
    """Write a string as a YAML scalar: plain when it reads back unchanged, else double-quoted."""
    try:
        plain_ok = yaml.safe_load(value) == value and "\n" not in value
    except yaml.YAMLError:
        plain_ok = False
    return value if plain_ok else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
