"""The datasets of a results folder, their runs, and what the Run page shows of each.

A dataset is a folder ``<results>/<dataset>/`` with at least one trained run
``models/<run>/model.pt``. The Run page shows files the workflow already wrote (nothing is
recomputed): tables (TSV), summaries (JSON) and plots (PNG). A file not (yet) produced is
listed as missing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from peakcnn.errors import InputError

#: Rows of a table and entries of a JSON summary shown on the page (the rest is counted).
MAX_ROWS = 200
#: Plots a page may link (served from inside the dataset folder only).
PLOT_SUFFIXES = (".png", ".svg")


@dataclass
class Dataset:
    """One dataset of a results folder.

    Attributes
    ----------
    name : str
    root : pathlib.Path
        ``<results>/<dataset>``.
    runs : list of str
        Runs with a ``model.pt``, sorted.
    chosen : str or None
        The run chosen on validation (``eval/best.json``), if it is one of ``runs``.
    genome : pathlib.Path or None
        ``genome/genome.fa`` when present.
    """

    name: str
    root: Path
    runs: list[str]
    chosen: str | None = None
    genome: Path | None = None

    @property
    def default_run(self) -> str:
        """The chosen run, else ``basset`` if trained, else the first."""
        if self.chosen:
            return self.chosen
        return "basset" if "basset" in self.runs else self.runs[0]

    def model_path(self, run: str) -> Path:
        """Return the ``model.pt`` of a run; an error for a run or file that is not there."""
        path = self.root / "models" / run / "model.pt"
        if run not in self.runs or not path.is_file():
            raise InputError(
                f"no model {run!r} in dataset {self.name!r} (trained here: {', '.join(self.runs)})"
                f"; choose one of those, or train it"
            )
        return path


def find_datasets(results: list[str]) -> dict[str, Dataset]:
    """Find the datasets with trained models in one or more results folders.

    Raises
    ------
    InputError
        For a folder that does not exist, one without trained models, or two datasets of
        the same name.
    """
    found: dict[str, Dataset] = {}
    for folder in results:
        root = Path(folder)
        if not root.is_dir():
            raise InputError("no such folder; give the workflow's results folder", folder)
        own = [_dataset(path) for path in sorted(root.iterdir()) if path.is_dir()]
        own = [dataset for dataset in own if dataset is not None]
        if not own:
            raise InputError(
                "no trained model here (no <dataset>/models/<run>/model.pt); run the workflow "
                "first, or give its results folder",
                folder,
            )
        for dataset in own:
            if dataset.name in found:
                raise InputError(
                    f"dataset {dataset.name!r} is also in {found[dataset.name].root.parent}; "
                    "serve one of them at a time",
                    folder,
                )
            found[dataset.name] = dataset
    return found


def _dataset(root: Path) -> Dataset | None:
    """Read a dataset folder with its trained runs, or None when it has none."""
    runs = sorted(p.parent.name for p in root.glob("models/*/model.pt"))
    if not runs:
        return None
    chosen = None
    best = root / "eval" / "best.json"
    if best.is_file():
        try:
            chosen = json.loads(best.read_text()).get("chosen")
        except (ValueError, AttributeError):
            chosen = None
    genome = root / "genome" / "genome.fa"
    return Dataset(
        root.name,
        root,
        runs,
        chosen if chosen in runs else None,
        genome if genome.is_file() else None,
    )


@dataclass
class Section:
    """A block of the Run page: a title, then tables, key-value summaries and plots."""

    title: str
    tables: list[dict] = field(default_factory=list)
    summaries: list[dict] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def run_sections(dataset: Dataset, run: str) -> list[Section]:
    """List what the Run page shows for one run of a dataset, section by section.

    Paths are relative to the dataset folder; plots are served from there.
    """
    evaluation, attribution = f"eval/{run}", f"attribution/{run}"
    plan = [
        ("Chosen model", ["eval/best.json"], ["eval/candidates.tsv"], []),
        (
            f"Test metrics of {run} (95% bootstrap CIs)",
            [],
            [f"{evaluation}/metrics.tsv", f"{evaluation}/groups.tsv"],
            [
                f"{evaluation}/{name}.png"
                for name in ("roc", "pr", "calibration", "scores", "training", "robustness")
            ],
        ),
        ("Model comparison", [], ["eval/models.tsv"], ["eval/models.png"]),
        (
            f"Motifs of {run} and their JASPAR matches",
            [f"{attribution}/motifs/summary.json"],
            [f"{attribution}/motifs/matches.tsv"],
            [f"{attribution}/motifs/patterns.png", f"{attribution}/logos.png"],
        ),
        (
            "Split, homology check and negatives",
            [
                "dataset/split.json",
                "dataset/homology.json",
                "windows/summary.json",
                "negatives/negatives.json",
            ],
            [],
            ["negatives/gc.png"],
        ),
    ]
    sections = []
    for title, summaries, tables, plots in plan:
        section = Section(title)
        for relative in summaries:
            _add(section, dataset.root, relative, _summary)
        for relative in tables:
            _add(section, dataset.root, relative, _table)
        for relative in plots:
            if (dataset.root / relative).is_file():
                section.plots.append(relative)
            else:
                section.missing.append(relative)
        sections.append(section)
    return sections


def _add(section: Section, root: Path, relative: str, reader) -> None:
    """Read one file into a section, or list it as missing (or unreadable)."""
    path = root / relative
    if not path.is_file():
        section.missing.append(relative)
        return
    try:
        content = reader(path)
    except (ValueError, OSError, pd.errors.ParserError) as error:
        section.missing.append(f"{relative} (unreadable: {error})")
        return
    content["path"] = relative
    (section.tables if reader is _table else section.summaries).append(content)


def _table(path: Path) -> dict:
    """Read the first ``MAX_ROWS`` rows of a TSV, as columns and rows of strings."""
    frame = pd.read_csv(path, sep="\t")
    shown = frame.head(MAX_ROWS)
    rows = [[_cell(value) for value in row] for row in shown.itertuples(index=False)]
    return {"columns": [str(c) for c in frame.columns], "rows": rows, "total": len(frame)}


def _summary(path: Path) -> dict:
    """Read a JSON file flattened to ``dotted.key: value`` rows (the first ``MAX_ROWS``).

    Top-level values are the ``headline``; nested ones (``nested``) are shown folded.
    """
    rows = list(_flatten(json.loads(path.read_text())))
    shown = rows[:MAX_ROWS]
    headline = [row for row in shown if not any(mark in row[0] for mark in ".[")]
    nested = [row for row in shown if any(mark in row[0] for mark in ".[")]
    return {"headline": headline, "nested": nested, "shown": len(shown), "total": len(rows)}


def _flatten(value, prefix: str = ""):
    """Yield ``(key, text)`` leaves of nested JSON; long lists of scalars are summarised."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and all(isinstance(v, (dict, list)) for v in value):
        for i, inner in enumerate(value):
            yield from _flatten(inner, f"{prefix}[{i}]")
    elif isinstance(value, list):
        shown = ", ".join(_cell(v) for v in value[:12])
        more = f" … ({len(value)} values)" if len(value) > 12 else ""
        yield prefix, f"[{shown}{more}]"
    else:
        yield prefix, _cell(value)


def _cell(value) -> str:
    """Format a value as page text: floats to 4 significant digits, missing as NA."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NA"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
