"""Run the data stages (windows, split, negatives, dataset) through the library, as the rules do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from peakcnn.data.dataset import build_dataset
from peakcnn.data.negatives import sample_negatives
from peakcnn.data.split import split_windows
from peakcnn.data.windows import make_windows


def write_genome(path: Path, sizes: dict[str, int], seed: int = 0) -> str:
    """A random-sequence FASTA with records of the given sizes (60 bases a line)."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as handle:
        for name, size in sizes.items():
            bases = "".join(rng.choice(list("ACGT"), size))
            lines = [bases[i : i + 60] for i in range(0, size, 60)]
            handle.write(f">{name}\n" + "\n".join(lines) + "\n")
    return str(path)


def write_summits(path: Path, summits: list[tuple[str, int]]) -> str:
    """A narrowPeak file with one 40 bp peak per (record, summit)."""
    path.write_text(
        "".join(
            f"{c}\t{s - 20}\t{s + 20}\tp{i}\t0\t.\t5\t1\t1\t20\n"
            for i, (c, s) in enumerate(summits)
        )
    )
    return str(path)


def data_stages(
    folder: Path,
    fasta: str,
    peaks: str | dict[str, str],
    *,
    windows: dict,
    split: dict,
    negatives: dict | None = None,
    dataset: bool = True,
) -> dict[str, str]:
    """Run make_windows, split_windows, sample_negatives and (``dataset``) build_dataset.

    Returns the output paths (``pos``, ``peaks``, ``regions``, ``assigned``, ``neg`` and the
    summaries ``windows.json``, ``split.json``, ``neg.json``, ``dataset.json``).
    """
    names = ("pos", "peaks", "regions", "assigned", "neg", "windows.json", "split.json")
    out = {name: str(folder / name) for name in names + ("neg.json", "dataset.json")}
    length = windows.get("length", 800)
    make_windows(
        peaks, fasta, out["pos"], out["windows.json"], all_peaks_path=out["peaks"], **windows
    )
    split_windows(
        fasta,
        out["pos"],
        out["regions"],
        out["assigned"],
        out["split.json"],
        window_length=length,
        **split,
    )
    sample_negatives(
        out["pos"],
        out["assigned"],
        out["peaks"],
        out["regions"],
        fasta,
        out["neg"],
        out["neg.json"],
        str(folder / "gc.png"),
        window_length=length,
        blacklist=windows.get("blacklist"),
        **(negatives or {}),
    )
    if dataset:
        build_dataset(
            out["assigned"],
            out["neg"],
            {s: str(folder / f"{s}.npz") for s in ("train", "val", "test")},
            out["dataset.json"],
            tasks=["peaks"] if isinstance(peaks, str) else list(peaks),
            window_length=length,
            fasta_path=fasta,
            split_summary=json.loads(Path(out["split.json"]).read_text()),
        )
    return out
