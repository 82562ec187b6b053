"""Scan a genome (or chosen contigs or regions) with a trained model, streaming.

The scanned intervals are cut into bins of ``stride`` bp; each bin is scored by the model's
window centred on it (N beyond contig ends, as in training), so the score tracks tile the
intervals without overlap. Windows are encoded straight from the memory-mapped FASTA and
scored ``chunk`` at a time; every chunk is appended to the outputs at once, so memory depends
on the chunk size, not on the genome size.

Outputs, per task: ``<prefix>.<task>.bw`` (bigWig) and ``<prefix>.<task>.bedGraph`` of the
probability; and ``<prefix>.called.bed``: runs of adjacent bins whose probability reaches the
task's threshold chosen on validation (``metrics.json``), as BED6 (score: ``round(1000 *``
highest probability)) plus ``task`` and ``max_probability``. All files appear only when the
scan is complete.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from peakcnn.apply.loading import LoadedModel
from peakcnn.apply.predict import region_table
from peakcnn.apply.sequences import check_genome, match_contigs, read_bed
from peakcnn.data.encode import encode_bytes
from peakcnn.data.genome import chromosome_sizes, open_fasta, record_layout
from peakcnn.errors import InputError
from peakcnn.io import atomic_path
from peakcnn.logs import progress, throughput

logger = logging.getLogger(__name__)

#: Windows encoded and scored at a time.
CHUNK = 4096
#: Split names of a split ``regions.bed`` (scan one split's regions by its name).
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class CalledRegion:
    """A run of adjacent bins at or above a task's threshold, still growing."""

    chrom: str
    start: int
    end: int
    max_probability: float


def scan_intervals(
    genome: str, contigs: list[str] | None = None, regions: pd.DataFrame | None = None
) -> list[tuple[str, int, int]]:
    """Return the intervals to scan, in genome order, merged and clipped to the contigs.

    Parameters
    ----------
    genome : str
        Indexed genome FASTA.
    contigs : list of str, optional
        Contigs to scan whole (reconciled to record names as for peaks).
    regions : pandas.DataFrame, optional
        ``chrom, start, end`` (and ``line``) of regions to scan (chrom already reconciled).

    Returns
    -------
    list of (chrom, start, end)
    """
    sizes = chromosome_sizes(genome)
    order = {name: i for i, name in enumerate(sizes)}
    if regions is None:
        names = list(sizes)
        if contigs:
            mapping = match_contigs(contigs, genome, "--contigs")
            names = sorted({mapping[c] for c in contigs}, key=order.get)
        return [(name, 0, sizes[name]) for name in names if sizes[name] > 0]
    merged: list[tuple[str, int, int]] = []
    for row in sorted(
        regions.itertuples(index=False), key=lambda r: (order[r.chrom], r.start, r.end)
    ):
        start, end = max(0, int(row.start)), min(int(row.end), sizes[row.chrom])
        if end <= start:
            continue
        if merged and merged[-1][0] == row.chrom and start <= merged[-1][2]:
            merged[-1] = (row.chrom, merged[-1][1], max(end, merged[-1][2]))
        else:
            merged.append((row.chrom, start, end))
    return merged


def bins(start: int, end: int, stride: int, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(bin starts, bin ends)`` of ``stride`` bp tiling ``[start, end)``, chunk by chunk."""
    for first in range(start, end, stride * chunk):
        starts = np.arange(first, min(first + stride * chunk, end), stride, dtype=np.int64)
        yield starts, np.minimum(starts + stride, end)


def scan_genome(
    model: LoadedModel,
    genome: str,
    prefix: str,
    *,
    stride: int,
    contigs: list[str] | None = None,
    regions: pd.DataFrame | None = None,
    chunk: int = CHUNK,
    both_strands: bool = False,
) -> dict:
    """Score every ``stride`` bp bin of the chosen intervals; write bigWig, bedGraph, calls.

    Parameters
    ----------
    model : LoadedModel
        With per-task ``thresholds`` (from ``metrics.json`` or given).
    genome : str
        Indexed, uncompressed genome FASTA.
    prefix : str
        Output path prefix (see the module docstring for the files).
    stride : int
        Bin size and step between windows, in bp.
    contigs : list of str, optional
        Scan these contigs only (default: every record).
    regions : pandas.DataFrame, optional
        Scan these regions only (``chrom`` already reconciled to genome records).
    chunk : int, default ``CHUNK``
        Windows per batch.
    both_strands : bool, default False
        Average each window with its reverse complement.

    Returns
    -------
    dict
        ``windows``, ``bases``, ``called_regions`` (per task), ``padded_windows`` and the files.
    """
    thresholds = check_scan_settings(model, stride, chunk)
    check_genome(genome)
    intervals = scan_intervals(genome, contigs, regions)
    sizes = chromosome_sizes(genome)
    header = [(c, sizes[c]) for c in dict.fromkeys(chrom for chrom, _, _ in intervals)]
    summary = {"windows": 0, "bases": 0, "padded_windows": 0, "files": []}
    data = np.memmap(genome, dtype=np.uint8, mode="r")
    fasta = open_fasta(genome)
    with ExitStack() as stack, throughput("scan", "windows") as rate:
        stack.callback(fasta.close)
        tracks = ScanTracks.open(stack, prefix, model.tasks, header, thresholds)
        total = sum(-(-(end - start) // stride) for _, start, end in intervals)
        bar = progress(total, "scan", "windows")  # a live bar on a terminal only
        stack.callback(bar.close)
        for chrom, start, end in intervals:
            layout = record_layout(fasta, chrom)
            for bin_starts, bin_ends in bins(start, end, stride, chunk):
                window_starts = (bin_starts + bin_ends) // 2 - model.length // 2
                x, counts = encode_bytes(data, window_starts, model.length, layout)
                probabilities = model.scores(x, both_strands).probabilities
                tracks.add(chrom, bin_starts, bin_ends, probabilities)
                summary["padded_windows"] += int((counts[:, 2] > 0).sum())
                rate["count"] += len(bin_starts)
                bar.update(len(bin_starts))
            tracks.close_calls()
            summary["bases"] += end - start
        summary["windows"] = rate["count"]
    summary["files"], summary["called_regions"] = tracks.files, tracks.calls
    logger.info(
        "scanned %d bp in %d intervals with %d windows (stride %d bp; %d run past a contig end, "
        "N-padded); called regions %s at thresholds %s",
        summary["bases"],
        len(intervals),
        summary["windows"],
        stride,
        summary["padded_windows"],
        tracks.calls,
        thresholds,
    )
    return summary


def check_scan_settings(model: LoadedModel, stride: int, chunk: int) -> list[float]:
    """Refuse a stride or chunk below 1 and a model without thresholds; return the thresholds."""
    if stride < 1:
        raise InputError(f"--stride {stride} must be a positive number of bp (e.g. 50)")
    if chunk < 1:
        raise InputError(f"--chunk {chunk} must be a positive number of windows")
    thresholds = model.metadata.thresholds
    if thresholds is None:
        raise InputError(
            "no validation threshold is known for this model; give --metrics (the run's "
            "metrics.json) or --threshold",
            model.source,
        )
    if stride > model.length:
        logger.warning("stride %d bp > window %d bp: bins are not fully seen", stride, model.length)
    return thresholds


@dataclass
class ScanTracks:
    """The scan's open outputs: a bigWig and a bedGraph per task, and the called regions.

    Each is written to a temporary file beside its target and moved into place when the
    ``ExitStack`` it was opened on closes without an error.
    """

    tasks: list[str]
    thresholds: list[float]
    bigwigs: list
    graphs: list
    called: object
    files: list[str]
    calls: dict[str, int]
    open_calls: list[CalledRegion | None]

    @classmethod
    def open(cls, stack: ExitStack, prefix: str, tasks, header, thresholds) -> ScanTracks:
        """Open every output of a scan on ``stack`` (bigWigs get the contig header)."""
        import pyBigWig

        bigwigs, graphs, files = [], [], []
        for task in tasks:
            path = f"{prefix}.{task}"
            bigwig = pyBigWig.open(stack.enter_context(atomic_path(f"{path}.bw")), "w")
            stack.callback(bigwig.close)
            bigwig.addHeader(header)
            bigwigs.append(bigwig)
            graph = open(stack.enter_context(atomic_path(f"{path}.bedGraph")), "w")
            stack.callback(graph.close)
            graphs.append(graph)
            files += [f"{path}.bw", f"{path}.bedGraph"]
        called = open(stack.enter_context(atomic_path(f"{prefix}.called.bed")), "w")
        stack.callback(called.close)
        files.append(f"{prefix}.called.bed")
        calls = {task: 0 for task in tasks}
        return cls(
            list(tasks), thresholds, bigwigs, graphs, called, files, calls, [None] * len(tasks)
        )

    def add(self, chrom: str, starts: np.ndarray, ends: np.ndarray, probabilities) -> None:
        """Append one chunk of bins (probabilities (N, T)) to every track and the calls."""
        for t, task in enumerate(self.tasks):
            values = probabilities[:, t]
            self.bigwigs[t].addEntries(
                [chrom] * len(values), starts.tolist(), ends=ends.tolist(), values=values.tolist()
            )
            _write_bedgraph(self.graphs[t], chrom, starts, ends, values)
            above = values >= self.thresholds[t]
            self.open_calls[t], closed = _extend_calls(
                self.open_calls[t], chrom, starts, ends, above, values
            )
            self.calls[task] += _write_calls(self.called, closed, task)

    def close_calls(self) -> None:
        """Write the called regions still open at the end of an interval."""
        for t, region in enumerate(self.open_calls):
            self.calls[self.tasks[t]] += _write_calls(
                self.called, [region] if region else [], self.tasks[t]
            )
        self.open_calls = [None] * len(self.tasks)


def _write_bedgraph(handle, chrom: str, starts: np.ndarray, ends: np.ndarray, values) -> None:
    """Append bedGraph lines for one chunk of bins."""
    handle.writelines(
        f"{chrom}\t{s}\t{e}\t{v:.6g}\n"
        for s, e, v in zip(starts.tolist(), ends.tolist(), values.tolist(), strict=True)
    )


def _extend_calls(
    current: CalledRegion | None,
    chrom: str,
    starts: np.ndarray,
    ends: np.ndarray,
    above: np.ndarray,
    values: np.ndarray,
) -> tuple[CalledRegion | None, list[CalledRegion]]:
    """Grow or close runs of adjacent bins above threshold; return the open run and closed ones."""
    closed = []
    for s, e, hit, v in zip(
        starts.tolist(), ends.tolist(), above.tolist(), values.tolist(), strict=True
    ):
        if hit and current is not None and current.end == s:
            current.end, current.max_probability = e, max(current.max_probability, v)
        elif hit:
            if current is not None:
                closed.append(current)
            current = CalledRegion(chrom, s, e, v)
        elif current is not None:
            closed.append(current)
            current = None
    return current, closed


def _write_calls(handle, regions: list[CalledRegion], task: str) -> int:
    """Append called regions as BED6 + task + max probability; return how many."""
    handle.writelines(
        f"{r.chrom}\t{r.start}\t{r.end}\t{task}:{r.chrom}:{r.start}-{r.end}\t"
        f"{round(1000 * r.max_probability)}\t.\t{task}\t{r.max_probability:.6g}\n"
        for r in regions
    )
    return len(regions)


def split_regions(path: str, genome: str, split: str | None = None) -> pd.DataFrame:
    """Regions of a BED file to scan, reconciled to genome records.

    With ``split``, only the rows of a split ``regions.bed`` whose 4th column names it.
    """
    table = read_bed(path)
    if split is not None:
        table = table[table["name"] == split]
        if table.empty:
            raise InputError(f"no {split!r} rows (4th column) in this split regions file", path)
    return region_table(table, genome, path)


def scan_to_folder(
    model: LoadedModel,
    genome: str,
    folder: str,
    summary_path: str,
    *,
    name: str,
    stride: int,
    regions: str | None = None,
    contigs: list[str] | None = None,
    both_strands: bool = False,
) -> pd.DataFrame:
    """Scan into ``<folder>/<name>.*`` (see ``scan_genome``) and write a per-task summary TSV.

    Parameters
    ----------
    model : LoadedModel
    genome : str
        Indexed, uncompressed genome FASTA.
    folder : str
        Output folder (created).
    summary_path : str
        TSV, one row per task: what was scanned, windows, threshold, called regions and bp.
    name : str
        Output prefix within ``folder``: a split name (``train``, ``val``, ``test``: only the
        rows of ``regions`` naming it are scanned), ``genome``, or a BED file's stem.
    stride : int
        Bin size and step in bp.
    regions : str, optional
        BED file (or a split ``regions.bed``) of the regions to scan; None = whole contigs.
    contigs : list of str, optional
        Without ``regions``: the contigs to scan (default: all).
    both_strands : bool, default False
        Average each window with its reverse complement.

    Returns
    -------
    pandas.DataFrame
        The summary table.
    """
    table = None
    if regions is not None:
        table = split_regions(regions, genome, name if name in SPLIT_NAMES else None)
    Path(folder).mkdir(parents=True, exist_ok=True)
    prefix = str(Path(folder) / name)
    summary = scan_genome(
        model,
        genome,
        prefix,
        stride=stride,
        contigs=None if table is not None else contigs or None,
        regions=table,
        both_strands=both_strands,
    )
    called = pd.read_csv(
        f"{prefix}.called.bed", sep="\t", header=None, usecols=[1, 2, 6], names=["s", "e", "task"]
    )
    rows = [
        {
            "task": task,
            "scanned": name,
            "bases": summary["bases"],
            "stride": stride,
            "windows": summary["windows"],
            "padded_windows": summary["padded_windows"],
            "threshold": model.metadata.thresholds[t],
            "called_regions": summary["called_regions"][task],
            "called_bp": int((called.e - called.s)[called.task == task].sum()),
        }
        for t, task in enumerate(model.tasks)
    ]
    out = pd.DataFrame(rows)
    with atomic_path(summary_path) as tmp:
        out.to_csv(tmp, sep="\t", index=False)
    return out
