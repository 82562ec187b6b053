"""Careless input and changed files on the data stages: off-contig peaks, N content, CRLF."""

import json
from pathlib import Path

import pytest

from peakcnn.data.intervals import read_bed
from peakcnn.data.windows import WINDOW_COLUMNS, make_windows
from peakcnn.errors import InputError

# tests/data/tiny.fa: chrA is 300 bp, chrB 200 bp, chrC 120 bp.


def write_peaks(tmp_path: Path, text: str) -> str:
    """A narrowPeak file with ``text`` as its body."""
    path = tmp_path / "peaks.narrowPeak"
    path.write_text(text)
    return str(path)


def windows_of(tmp_path, fasta, peaks, **options):
    """Run make_windows; return the written windows and the summary."""
    positives, summary = tmp_path / "pos.bed", tmp_path / "summary.json"
    result = make_windows(peaks, fasta, str(positives), str(summary), length=40, **options)
    return read_bed(str(positives), WINDOW_COLUMNS), result


OTHER_ASSEMBLY = (
    "chrA\t100\t141\tinside\t0\t.\t5\t1\t1\t20\n"
    "chrB\t500\t541\tbeyond\t0\t.\t5\t1\t1\t20\n"  # chrB is 200 bp long
    "chrB\t190\t231\tsummit_beyond\t0\t.\t5\t1\t1\t20\n"  # summit at 210
    "chrB\t170\t211\toverhang\t0\t.\t5\t1\t1\t25\n"  # summit at 195, end past 200
)


def test_peak_beyond_its_contig_is_an_error_naming_file_line_and_length(tmp_path, tiny_fasta):
    peaks = write_peaks(tmp_path, OTHER_ASSEMBLY)
    with pytest.raises(InputError) as error:
        windows_of(tmp_path, tiny_fasta, peaks, max_n_fraction=1.0)
    message = str(error.value)
    assert message.startswith(f"{peaks}:2: ")
    assert "(200 bp" in message and "another assembly" in message
    assert "windows.off_contig: drop" in message and "\n" not in message
    assert not (tmp_path / "pos.bed").exists() and not (tmp_path / "summary.json").exists()


def test_off_contig_drop_counts_and_never_writes_an_invalid_interval(tmp_path, tiny_fasta):
    peaks = write_peaks(tmp_path, OTHER_ASSEMBLY)
    windows, summary = windows_of(
        tmp_path, tiny_fasta, peaks, max_n_fraction=1.0, off_contig="drop"
    )
    assert sorted(windows["name"]) == ["inside", "overhang"]
    assert summary["off_contig"] == 2 and summary["by_task"]["peaks"]["off_contig"] == 2
    assert summary["past_contig_end"] == 1 and summary["off_contig_policy"] == "drop"
    assert (windows["start"] < windows["end"]).all()
    assert summary["padded"] == 1  # the overhanging peak's window, not the dropped ones


def test_off_contig_policy_must_be_known(tmp_path, tiny_fasta):
    peaks = write_peaks(tmp_path, OTHER_ASSEMBLY)
    with pytest.raises(InputError, match="windows.off_contig 'skip' must be one of"):
        windows_of(tmp_path, tiny_fasta, peaks, off_contig="skip")


def test_every_peak_off_contig_is_an_error_even_when_dropping(tmp_path, tiny_fasta):
    peaks = write_peaks(tmp_path, "chrB\t500\t541\tbeyond\t0\t.\t5\t1\t1\t20\n")
    with pytest.raises(InputError, match="beyond a record's end 1"):
        windows_of(tmp_path, tiny_fasta, peaks, off_contig="drop")


def test_summary_counts_match_written_windows(tmp_path, tiny_fasta):
    peaks = write_peaks(tmp_path, OTHER_ASSEMBLY)
    windows, summary = windows_of(tmp_path, tiny_fasta, peaks, off_contig="drop")
    assert json.loads((tmp_path / "summary.json").read_text())["windows"] == len(windows)
