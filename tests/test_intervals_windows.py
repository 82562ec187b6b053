import json
from pathlib import Path

import pandas as pd
import pytest

from peakcnn.data.intervals import read_bed, read_peaks
from peakcnn.data.windows import WINDOW_COLUMNS, make_windows
from peakcnn.errors import InputError


def test_read_peaks_skips_header_and_reads_summits(tiny_peaks):
    table = read_peaks(tiny_peaks)
    assert table.counts["header_lines"] == 1
    assert len(table.peaks) == 7
    assert table.peaks.loc[0, "summit"] == 20
    assert table.peaks.loc[3, "summit"] == -1
    assert table.peaks.loc[0, "line"] == 2


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("chrA\t10", "at least 3"),
        ("chrA\tten\t20", "not an integer"),
        ("chrA\t30\t20", "start 30 >= end 20"),
        ("chrA\t-5\t20", "negative start"),
        ("chrA\t10\t20\tp\t0\t.\t1\t1\t1\t15", "summit offset 15 is outside"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.bed"
    path.write_text("chrA\t1\t5\n" + line + "\n")
    with pytest.raises(InputError, match=message) as error:
        read_peaks(str(path))
    assert f"{path}:2:" in str(error.value)
    assert "\n" not in str(error.value)


def test_empty_and_crlf_files(tmp_path):
    empty = tmp_path / "empty.bed"
    empty.write_text("# only a comment\n\n")
    with pytest.raises(InputError, match="no peaks"):
        read_peaks(str(empty))
    crlf = tmp_path / "crlf.bed"
    crlf.write_bytes(b"chrA\t1\t5\r\nchrA\t7\t9\r\n")
    assert read_peaks(str(crlf)).peaks["end"].tolist() == [5, 9]


def run_windows(tmp_path, fasta, peaks, **options):
    positives, summary = tmp_path / "pos.bed", tmp_path / "summary.json"
    result = make_windows(peaks, fasta, str(positives), str(summary), **options)
    assert json.loads(summary.read_text()) == json.loads(json.dumps(result))
    return read_bed(str(positives), WINDOW_COLUMNS), result


def test_windows_are_centred_and_padding_is_counted(tmp_path, tiny_fasta, tiny_peaks):
    windows, summary = run_windows(tmp_path, tiny_fasta, tiny_peaks, length=40, max_n_fraction=1)
    full_length = windows["end"] - windows["start"] + windows["pad_left"] + windows["pad_right"]
    assert (full_length == 40).all()
    centre = (windows["start"] - windows["pad_left"] + windows["end"] + windows["pad_right"]) // 2
    by_name = dict(zip(windows["name"], centre, strict=True))
    assert by_name == {"pA_edge": 15, "pA1": 120, "pA2": 270, "pB1": 90, "pB_edge": 190}
    edge = windows.set_index("name").loc["pA_edge"]
    assert (edge["start"], edge["pad_left"]) == (0, 5)
    assert windows.set_index("name").loc["pB_edge", "pad_right"] == 10
    assert summary["padded"] == 2
    assert summary["duplicates_removed"] == 1
    assert summary["on_absent_contigs"] == 1 and summary["absent_contigs"] == {"chrZ": 1}
    assert summary["centred_on_midpoint"] == 1
    assert summary["windows"] == 5
    assert summary["by_chromosome"]["chrB"]["padded"] == 1


def test_drop_policy_drops_and_counts(tmp_path, tiny_fasta, tiny_peaks):
    windows, summary = run_windows(tmp_path, tiny_fasta, tiny_peaks, length=40, chrom_end="drop")
    assert set(windows["name"]) == {"pA1", "pA2", "pB1"}
    assert summary["dropped_at_end"] == 2 and summary["padded"] == 0
    assert (windows["pad_left"] == 0).all() and (windows["pad_right"] == 0).all()


def test_no_peak_on_the_genome_is_an_error_and_writes_nothing(tmp_path, tiny_fasta):
    peaks = tmp_path / "other.bed"
    peaks.write_text("chr9\t10\t20\n")
    with pytest.raises(InputError, match="matching chromosome names"):
        make_windows(str(peaks), tiny_fasta, str(tmp_path / "p.bed"), str(tmp_path / "s.json"))
    assert not Path(tmp_path / "p.bed").exists() and not Path(tmp_path / "s.json").exists()


def test_odd_length_is_rejected(tmp_path, tiny_fasta, tiny_peaks):
    with pytest.raises(InputError, match="even"):
        make_windows(tiny_peaks, tiny_fasta, str(tmp_path / "p"), str(tmp_path / "s"), length=41)


def test_an_unknown_setting_of_a_data_stage_fails_before_any_output(
    tmp_path, tiny_fasta, tiny_peaks
):
    from peakcnn.data.negatives import sample_negatives
    from peakcnn.data.split import split_windows

    out = [str(tmp_path / name) for name in ("a", "b", "c", "d")]
    stages = [
        lambda: make_windows(tiny_peaks, tiny_fasta, *out[:2], lenght=40),
        lambda: split_windows(tiny_fasta, tiny_peaks, *out[:3], lenght=40),
        lambda: sample_negatives(*[tiny_peaks] * 4, tiny_fasta, *out[:3], lenght=40),
    ]
    for stage in stages:
        with pytest.raises(TypeError, match="lenght"):
            stage()
    assert not any(Path(path).exists() for path in out)


def test_overlap_policies_keep_merge_strongest(tmp_path, tiny_fasta):
    peaks = tmp_path / "overlap.bed"
    peaks.write_text(
        "chrA\t100\t141\tweak\t0\t.\t2.0\t1\t1\t20\n"
        "chrA\t130\t171\tstrong\t0\t.\t9.0\t1\t1\t20\n"
        "chrA\t250\t291\talone\t0\t.\t1.0\t1\t1\t20\n"
    )
    kept, summary = run_windows(tmp_path, tiny_fasta, str(peaks), length=40, max_n_fraction=1)
    assert len(kept) == 3 and summary["overlap_clusters"] == 1
    kept, summary = run_windows(
        tmp_path, tiny_fasta, str(peaks), length=40, overlap_policy="strongest", max_n_fraction=1
    )
    assert set(kept["name"]) == {"strong", "alone"} and summary["overlap_removed"] == 1
    kept, summary = run_windows(
        tmp_path, tiny_fasta, str(peaks), length=40, overlap_policy="merge", max_n_fraction=1
    )
    centres = (kept["start"] - kept["pad_left"] + kept["end"] + kept["pad_right"]) // 2
    assert sorted(centres) == [(100 + 171) // 2, 270]
    assert summary["overlap_removed"] == 1


def test_n_cap_drops_and_counts(tmp_path, tiny_fasta):
    peaks = tmp_path / "n.bed"
    peaks.write_text("chrA\t150\t170\tin_n_run\nchrA\t40\t60\tclean\n")  # N run at 150-170
    kept, summary = run_windows(tmp_path, tiny_fasta, str(peaks), length=20, max_n_fraction=0.5)
    assert kept["name"].tolist() == ["clean"] and summary["dropped_for_n"] == 1


def test_chromosome_names_are_reconciled_and_organelles_excluded(tmp_path):
    fasta = tmp_path / "g.fa"
    body = "ACGT" * 50
    fasta.write_text(
        f">NC_000001.1 Some plant chromosome 1 sequence\n{body}\n"
        f">Chr2\n{body}\n>ChrC\n{body}\n>NC_000932.1 Some plant chloroplast\n{body}\n"
    )
    peaks = tmp_path / "p.bed"
    peaks.write_text("1\t50\t70\nchr2\t50\t70\nChrC\t50\t70\nPt\t50\t70\nchr9\t5\t9\n")
    kept, summary = run_windows(tmp_path, str(fasta), str(peaks), length=20)
    assert sorted(kept["chrom"]) == ["Chr2", "NC_000001.1"]
    assert summary["renamed_contigs"] == {"1": "NC_000001.1", "chr2": "Chr2"}
    assert summary["on_excluded_contigs"] == {"ChrC": 1}
    assert summary["absent_contigs"] == {"Pt": 1, "chr9": 1}
    assert "NC_000932.1" in summary["excluded_records"]
    kept, summary = run_windows(
        tmp_path,
        str(fasta),
        str(peaks),
        length=20,
        chrom_aliases={"Pt": "NC_000932.1"},
        exclude_contigs=[],
    )
    assert sorted(kept["chrom"]) == ["Chr2", "ChrC", "NC_000001.1", "NC_000932.1"]


def test_ambiguous_names_are_an_error_naming_both_sides(tmp_path):
    fasta = tmp_path / "g.fa"
    fasta.write_text(f">chr1\n{'A' * 100}\n>Chr1\n{'C' * 100}\n")
    peaks = tmp_path / "p.bed"
    peaks.write_text("1\t10\t20\n")
    with pytest.raises(InputError, match=r"'1' matches several FASTA records \['Chr1', 'chr1'\]"):
        run_windows(tmp_path, str(fasta), str(peaks), length=20)


def test_alias_file_maps_names(tmp_path):
    from peakcnn.data.contigs import read_alias_file

    alias = tmp_path / "alias.txt"
    alias.write_text("# alias\tname\n1\tNC_1\tChr1\n2\tNC_2\n")
    assert read_alias_file(str(alias), {"NC_1", "NC_2"}) == {
        "1": "NC_1",
        "Chr1": "NC_1",
        "2": "NC_2",
    }


def test_real_demo_original_names_map_to_refseq(tmp_path):
    """The original bZIP11-bZIP10 file names chromosomes 1..5; the FASTA is RefSeq NC_003070.9."""
    import gzip
    import shutil

    demo = Path(__file__).resolve().parents[1] / "resources/demo"
    fasta = tmp_path / "chr1.fa"
    with gzip.open(demo / "TAIR10.1_chr1.fna.gz", "rb") as src, open(fasta, "wb") as dst:
        shutil.copyfileobj(src, dst)
    peaks = tmp_path / "all.narrowPeak"
    with gzip.open(demo / "GSE198873_bZIP11-bZIP10.all_chrom.original.narrowPeak.gz") as src:
        peaks.write_bytes(src.read())
    kept, summary = run_windows(tmp_path, str(fasta), str(peaks))
    assert summary["renamed_contigs"] == {"1": "NC_003070.9"}
    assert set(summary["absent_contigs"]) == {"2", "3", "4", "5"}
    assert summary["input_peaks"] == 32574
    assert summary["windows"] == 8490 == 32574 - summary["on_absent_contigs"]


def write_two_task_inputs(folder: Path) -> tuple[str, dict[str, str]]:
    """A 2 kb chromosome and two peak sets: A (summits 500, 1200), B (summits 530, 1500)."""
    fasta = folder / "g.fa"
    fasta.write_text(">c1\n" + "ACGT" * 500 + "\n")
    peaks = {"A": folder / "A.bed", "B": folder / "B.narrowPeak"}
    peaks["A"].write_text("c1\t450\t551\tA1\nc1\t1150\t1251\tA2\n")
    peaks["B"].write_text(
        "c1\t480\t581\tB1\t0\t.\t1\t1\t1\t50\nc1\t1400\t1601\tB2\t0\t.\t1\t1\t1\t100\n"
    )
    return str(fasta), {task: str(path) for task, path in peaks.items()}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"A1": "A,B", "B1": "A,B", "A2": "A", "B2": "B"}),
        ({"label_width": 40}, {"A1": "A", "B1": "B", "A2": "A", "B2": "B"}),
        ({"overlap_policy": "merge"}, {"A1": "A,B", "A2": "A", "B2": "B"}),
    ],
)
def test_multitask_windows_are_labelled_by_central_summits(tmp_path, options, expected):
    fasta, peaks = write_two_task_inputs(tmp_path)
    all_peaks = tmp_path / "all.bed"
    windows, summary = run_windows(
        tmp_path, fasta, peaks, length=200, all_peaks_path=str(all_peaks), **options
    )
    assert dict(zip(windows["name"], windows["tasks"], strict=True)) == expected
    assert summary["tasks"] == ["A", "B"]
    assert summary["input_peaks"] == 4
    assert summary["by_task"]["B"]["file_lines"]["with_summit"] == 2
    by_task = {t: sum(t in v.split(",") for v in expected.values()) for t in "AB"}
    assert summary["positive_windows_by_task"] == by_task
    written = read_bed(str(all_peaks), ["chrom", "start", "end", "task"])
    assert written["task"].tolist() == ["A", "B", "A", "B"]


def test_multitask_labels_reach_the_dataset_matrix(tmp_path):
    from peakcnn.data.tasks import label_matrix

    y = label_matrix(pd.Series(["A,B", "B", "."]), ["A", "B"])
    assert y.tolist() == [[1, 1], [0, 1], [0, 0]]
    with pytest.raises(InputError, match="task 'C'"):
        label_matrix(pd.Series(["C"]), ["A", "B"])


def test_a_task_without_peaks_on_the_genome_is_an_error(tmp_path):
    fasta, peaks = write_two_task_inputs(tmp_path)
    Path(peaks["B"]).write_text("chrUn\t1\t50\n")
    with pytest.raises(InputError, match="no peak of task 'B'"):
        run_windows(tmp_path, fasta, peaks, length=200)
