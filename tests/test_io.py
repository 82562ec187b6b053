"""Tests of peakcnn.io: atomic writes leave no temporary file behind, even after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from peakcnn.evaluation.plots import plot_training
from peakcnn.io import atomic_path, remove_stale_temporaries, save_png, write_tsv


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.tsv") as tmp:
        open(tmp, "w").write("partial")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_write_leaves_a_temporary_file_the_next_write_removes(tmp_path):
    """SIGKILL inside ``atomic_path``: the leftover goes at the next write of that output."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from peakcnn.io import atomic_path
        with atomic_path({str(tmp_path / "training.png")!r}) as tmp:
            open(tmp, "w").write("half a PNG")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": "src"}
    run = subprocess.run([sys.executable, "-c", script], env=env, check=False)
    assert run.returncode == -signal.SIGKILL
    leftovers = list(tmp_path.glob(".training.png.*.png"))
    assert len(leftovers) == 1
    unrelated = [tmp_path / name for name in (".training.png.notes", ".other.png.abcdefgh.png")]
    for path in unrelated:
        path.write_text("keep")
    history = tmp_path / "history.tsv"
    history.write_text("epoch\ttrain_loss\tval_loss\tval_auroc\n1\t0.7\t0.69\t0.6\n")
    report = tmp_path / "train.json"
    report.write_text('{"best_epoch": 1}')
    plot_training(str(history), str(report), str(tmp_path / "training.png"))
    assert not leftovers[0].exists()
    assert (tmp_path / "training.png").read_bytes()[:4] == b"\x89PNG"
    assert all(path.read_text() == "keep" for path in unrelated)


def test_remove_stale_temporaries_matches_only_its_own_names(tmp_path):
    own = [tmp_path / ".checkpoint.pt.k2j_9x0a.pt", tmp_path / ".checkpoint.pt.00000000.pt"]
    other = [
        tmp_path / "checkpoint.pt",
        tmp_path / ".checkpoint.pt.short.pt",
        tmp_path / ".checkpoint.pt.k2j_9x0a.pt.bak",
        tmp_path / ".model.pt.k2j_9x0a.pt",
    ]
    for path in own + other:
        path.write_text("x")
    removed = remove_stale_temporaries(tmp_path / "checkpoint.pt")
    assert sorted(removed) == sorted(own)
    assert sorted(tmp_path.iterdir()) == sorted(other)
    table = pd.DataFrame({"a": [1]})
    with atomic_path(tmp_path / "model.pt") as tmp:
        table.to_csv(tmp)
    assert not (tmp_path / ".model.pt.k2j_9x0a.pt").exists()


def test_write_tsv_formats_floats_and_missing_values(tmp_path):
    table = pd.DataFrame({"name": ["a", "b"], "value": [0.123456, float("nan")], "n": [1, 2]})
    write_tsv(tmp_path / "out.tsv", table)
    assert (tmp_path / "out.tsv").read_text() == "name\tvalue\tn\na\t0.1235\t1\nb\tNA\t2\n"
    write_tsv(tmp_path / "blank.tsv", table, float_format="%.2f", na_rep="")
    assert (tmp_path / "blank.tsv").read_text().splitlines()[1:] == ["a\t0.12\t1", "b\t\t2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.tsv", "out.tsv"]


def test_save_png_writes_a_png_and_closes_the_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    axis.plot([0, 1], [1, 0])
    save_png(figure, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(figure.number)
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]
