"""A tiny results folder and a real ``peakcnn serve`` process, for the tests of ``peakcnn.web``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from apply_helpers import REPO_SRC, write_genome, write_run  # noqa: E402

METRICS_TSV = (
    "metric\ttest\ttest_ci95_low\ttest_ci95_high\tval\nauroc\t0.8123\t0.7456\t0.8789\t0.8\n"
)


def write_results(folder: Path) -> tuple[Path, dict[str, str]]:
    """A results folder with one two-task run, its genome and a few evaluation files.

    Returns the results folder and the genome's contigs. ``eval/basset/roc.png`` and
    ``metrics.tsv``, ``eval/best.json`` and ``dataset/split.json`` exist; the other files of
    the Run page do not (they must be listed as not produced).
    """
    write_run(folder)
    genome, contigs = write_genome(folder)
    dataset = folder / "results" / "demo"
    (dataset / "genome").mkdir()
    shutil.copy(genome, dataset / "genome" / "genome.fa")
    evaluation = dataset / "eval" / "basset"
    (evaluation / "metrics.tsv").write_text(METRICS_TSV)
    figure, axis = plt.subplots(figsize=(2, 2))
    axis.plot([0, 1], [0, 1])
    figure.savefig(evaluation / "roc.png")
    plt.close(figure)
    (dataset / "eval" / "best.json").write_text(json.dumps({"chosen": "basset", "model": "basset"}))
    split = {"counts": {"train": 4, "val": 4, "test": 4}, "leak_check": "passed"}
    (dataset / "dataset" / "split.json").write_text(json.dumps(split))
    return folder / "results", contigs


@contextmanager
def serving(results: Path, *extra: str):
    """Run ``peakcnn serve`` (a real process on a free port of 127.0.0.1); yield its URL."""
    command = [sys.executable, "-m", "peakcnn.cli.main", "serve", str(results), "--port", "0"]
    env = {**os.environ, "PYTHONPATH": str(REPO_SRC)}
    log = tempfile.TemporaryFile(mode="w+")  # the server's log, never a full pipe
    process = subprocess.Popen(
        [*command, "--ism-width", "40", "--shap-references", "4", *extra],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        if "http://" not in line:
            process.kill()
            process.wait()
            log.seek(0)
            raise AssertionError(f"serve did not start: {line}{log.read()}")
        yield line.split()[2]
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()
        log.close()


def fetch(url: str, data: dict | bytes | None = None, json_body: dict | None = None):
    """GET (or POST a form, raw bytes or JSON) and return ``(status, body bytes, content type)``."""
    headers = {}
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif isinstance(data, dict):
        data = urllib.parse.urlencode(data).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers["Content-Type"]
