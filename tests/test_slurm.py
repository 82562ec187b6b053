"""The workflow on a real SLURM cluster, through profiles/slurm and profiles/slurm-gpu.

Needs the local single-node cluster: `bash scripts/slurm/start-local-slurm.sh` as root
(`LOCAL_SLURM_FAKE_GPUS=1` for the GPU profile test); see docs/cluster.md. Without it these tests
are skipped, unless PEAKCNN_REQUIRE_SLURM=1 (set by .ci/run), which turns the skip into a
failure.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import REPO, make_tiny_project, planned_jobs, rule_code

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

RUN_LIMIT = 600  # seconds for a whole tiny run through SLURM (about 2.5 min on 2 cores)


def query(*command: str) -> str:
    """Output of a SLURM client command (it fails the test if the command fails)."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"
    return result.stdout


def cluster_problem() -> str | None:
    """Why the SLURM tests cannot run here, or None when the local cluster is up and idle."""
    if shutil.which("sinfo") is None:
        return (
            "no SLURM client (sinfo); start the local cluster: scripts/slurm/start-local-slurm.sh"
        )
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[workflow]')"
    try:
        result = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 15 s"
    if result.returncode != 0:
        return f"SLURM does not answer ({result.stderr.strip()}); start the local cluster"
    states = result.stdout.split()[1::2]
    if not states or any(state != "idle" for state in states):
        return f"SLURM node not idle: {result.stdout.strip() or 'no nodes'}"
    return None


def skip_or_fail(reason: str) -> None:
    """Skip, or fail where the cluster is required (CI)."""
    if os.environ.get("PEAKCNN_REQUIRE_SLURM") == "1":
        pytest.fail(f"PEAKCNN_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)


def cluster_gpus() -> int:
    """GPUs the cluster's nodes advertise (gres gpu:N), summed."""
    gres = query("sinfo", "-h", "-N", "-o", "%G")
    return sum(int(n) for n in re.findall(r"gpu(?::[\w-]+)?:(\d+)", gres))


def run_on_slurm(
    workdir: Path, profile: str, *args: str, limit: int = RUN_LIMIT, snakefile: Path | None = None
):
    """Run snakemake in ``workdir`` (on its own Snakefile) through a SLURM profile.

    Snakemake can ignore SIGTERM while it waits on jobs, hence the KILL after 15 s.
    ``--max-threads 2``: the test node has 2 CPUs, and SLURM refuses a job asking for more.
    The first status check comes 3 s after submission instead of the profile's 8: the plugin
    adds 10 s after each check that finds nothing finished, and the tiny jobs take 8-15 s, so
    checks at 3 and 16 s beat 8 and 26 s (about 10 s saved on each of ~11 chained steps).
    """
    command = [
        "timeout",
        "-k",
        "15",
        str(limit),
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile or workdir / "Snakefile"),
        "--directory",
        str(workdir),
        "--profile",
        str(REPO / "profiles" / profile),
        "--max-threads",
        "2",
        "--slurm-init-seconds-before-status-checks",
        "3",
        *args,
    ]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=limit + 60)
    return result, time.monotonic() - started


def job_ids(workdir: Path) -> dict[str, list[str]]:
    """SLURM job ids of each rule, from the plugin's logs (slurm_logs/rule_<rule>/.../<id>.log)."""
    ids: dict[str, list[str]] = {}
    for log in (workdir / ".snakemake/slurm_logs").glob("rule_*/**/*.log"):
        rule = log.relative_to(workdir / ".snakemake/slurm_logs").parts[0].removeprefix("rule_")
        ids.setdefault(rule, []).append(log.stem)
    return ids


def jobs_table() -> dict[str, dict[str, str]]:
    """Every job slurmctld still knows (finished ones for MinJobAge s): id -> fields."""
    fields = ["JobID", "State", "Comment", "NumCPUs", "MinMemory", "tres-per-job", "WorkDir"]
    text = query("squeue", "-h", "-t", "all", "-O", ",".join(f"{f}:|" for f in fields))
    table = {}
    for line in text.splitlines():
        values = [value.strip() for value in line.split("|")[: len(fields)]]
        table[values[0]] = dict(zip(fields, values, strict=True))
    return table


def cancel_jobs_in(workdir: Path) -> None:
    """Cancel jobs of a run that are still queued or running (after a timeout kill)."""
    for job in jobs_table().values():
        if job["WorkDir"].startswith(str(workdir)) and job["State"] in {"PENDING", "RUNNING"}:
            subprocess.run(["scancel", job["JobID"]], check=False, timeout=30)


def tail(result: subprocess.CompletedProcess) -> str:
    return (result.stdout + result.stderr)[-4000:]


@pytest.fixture(scope="module")
def cluster() -> None:
    problem = cluster_problem()
    if problem:
        skip_or_fail(problem)


# Rules that run in the main snakemake process, not through sbatch: the downloads.
LOCAL_RULES = {name for name, rule in rule_code().items() if rule.local}


def test_downloads_are_local_rules():
    assert LOCAL_RULES == {"fetch_genome", "fetch_peaks"}


@pytest.fixture(scope="module")
def expected_jobs(tiny_run) -> dict[str, int]:
    """Jobs per rule of a whole tiny run sent to SLURM (not `all`, not the local downloads)."""
    jobs = planned_jobs(tiny_run, "--forceall")
    assert jobs.pop("all") == 1
    return {rule: count for rule, count in jobs.items() if rule not in LOCAL_RULES}


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """The tiny workflow run through profiles/slurm: (workdir, result, seconds)."""
    workdir = make_tiny_project(tmp_path_factory.mktemp("slurm_run"))
    try:
        result, seconds = run_on_slurm(workdir, "slurm")
    finally:
        cancel_jobs_in(workdir)
    return workdir, result, seconds


def test_workflow_runs_through_sbatch(slurm_run, expected_jobs):
    workdir, result, seconds = slurm_run
    assert result.returncode == 0, f"rc {result.returncode} after {seconds:.0f} s\n{tail(result)}"
    assert seconds < RUN_LIMIT
    ids = job_ids(workdir)
    # Every job of every rule but the target `all` was a SLURM job with a numeric id.
    assert {rule: len(v) for rule, v in ids.items()} == expected_jobs
    assert all(job_id.isdigit() for v in ids.values() for job_id in v), ids
    jobs = jobs_table()
    for rule, rule_ids in ids.items():
        for job_id in rule_ids:
            job = jobs.get(job_id)
            assert job is not None, f"{rule}: job {job_id} unknown to squeue -t all"
            assert job["State"] == "COMPLETED", f"{rule}: job {job_id} is {job['State']}"
            assert job["Comment"].startswith(f"rule_{rule}_"), job
            assert Path(job["WorkDir"]) == workdir
            assert job["tres-per-job"] in {"N/A", ""}, f"{rule}: the CPU profile asked a GPU: {job}"
    # Resources of the config reached sbatch (threads capped by --max-threads 2).
    resources = yaml.safe_load((workdir / "config/config.yaml").read_text())["resources"]
    for job_id in ids["train_model"]:
        memory = f"{resources['train_model']['mem_mb']}M"
        assert (jobs[job_id]["NumCPUs"], jobs[job_id]["MinMemory"]) == ("2", memory)
    assert jobs[ids["make_windows"][0]]["MinMemory"] == f"{resources['make_windows']['mem_mb']}M"
    # The downloads ran in the main process: no SLURM job, their outputs are there.
    assert not LOCAL_RULES & set(ids)
    assert (workdir / "results/tiny/genome/genome.fa").exists()
    # The job logs are the plugin's: each job ran snakemake's jobstep executor for its rule.
    log = next((workdir / ".snakemake/slurm_logs/rule_train_model").glob("**/*.log"))
    assert "train_model" in log.read_text()


def test_slurm_results_match_a_local_run(slurm_run, tiny_run):
    workdir, result, _ = slurm_run
    assert result.returncode == 0, tail(result)
    here, there = workdir / "results/tiny", tiny_run / "results/tiny"
    for name in ("dataset/train.npz", "dataset/val.npz", "dataset/test.npz"):
        a, b = np.load(here / name), np.load(there / name)
        assert a.files == b.files
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")
    # Training on CPU with a seed and the same thread count is deterministic: same scores.
    models = sorted(path.name for path in (there / "eval").iterdir() if path.is_dir())
    assert models
    for model in models:
        metrics = [
            json.loads((d / f"eval/{model}/metrics.json").read_text()) for d in (here, there)
        ]
        for key in ("auroc", "auprc"):
            assert metrics[0]["test"][key] == metrics[1]["test"][key], (model, key)
        predictions = [
            gzip.decompress((d / f"eval/{model}/predictions.tsv.gz").read_bytes())
            for d in (here, there)
        ]
        assert predictions[0] == predictions[1], model
    explained = sorted(there.glob("attribution/*/shap.npz"))
    assert explained
    for path in explained:
        shap = [np.load(d / path.relative_to(there)) for d in (here, there)]
        np.testing.assert_array_equal(shap[0]["shap"], shap[1]["shap"])


def without_model(tiny_run: Path, folder: Path) -> Path:
    """A copy of the finished tiny run with the model removed: only train_model is left to run.

    The copy is run with its own Snakefile: the library inputs are recorded relative to the
    project, so a copied project is as finished as the original.
    """
    workdir = folder / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    shutil.rmtree(workdir / "results/tiny/models/basset")
    return workdir


MODEL = "results/tiny/models/basset/model.pt"


def test_gpu_profile_requests_a_gpu_and_runs(cluster, tiny_run, tmp_path):
    if cluster_gpus() < 1:
        skip_or_fail("no GPU gres: start the cluster with LOCAL_SLURM_FAKE_GPUS=1")
    workdir = without_model(tiny_run, tmp_path)
    try:
        result, seconds = run_on_slurm(workdir, "slurm-gpu", MODEL, limit=300)
    finally:
        cancel_jobs_in(workdir)
    assert result.returncode == 0, f"rc {result.returncode} after {seconds:.0f} s\n{tail(result)}"
    ids = job_ids(workdir)
    assert list(ids) == ["train_model"]  # nothing upstream reran
    job = jobs_table()[ids["train_model"][0]]
    assert job["State"] == "COMPLETED"
    assert re.fullmatch(r"(gres[:/])?gpu:1", job["tres-per-job"]), job
    # The fake GPU is /dev/null: torch finds no CUDA and `device: auto` trains on CPU.
    train = json.loads((workdir / "results/tiny/models/basset/train.json").read_text())
    assert train["device"] == "cpu"


def test_gpu_request_the_cluster_cannot_meet_fails_fast(cluster, tiny_run, tmp_path):
    # What a user sees with profiles/slurm-gpu on a partition without (enough) GPUs: sbatch
    # refuses the job at once and snakemake stops with an error; no pending job, no hang.
    workdir = without_model(tiny_run, tmp_path)
    too_many = f"train_model:gpu={cluster_gpus() + 1}"
    try:
        result, seconds = run_on_slurm(
            workdir,
            "slurm-gpu",
            MODEL,
            "--set-resources",
            too_many,
            limit=180,
        )
    finally:
        cancel_jobs_in(workdir)
    assert result.returncode == 1, tail(result)
    assert seconds < 90, f"took {seconds:.0f} s to fail"
    output = result.stdout + result.stderr
    assert "SLURM sbatch failed" in output and "Error in rule train_model" in output, tail(result)
    assert not (workdir / MODEL).exists()
    assert cluster_problem() is None  # the cluster is left as it was
