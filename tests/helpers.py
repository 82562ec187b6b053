"""Helpers shared by the workflow tests: tiny inputs and config, snakemake runs, project copies."""

from __future__ import annotations

import ast
import fcntl
import gzip
import hashlib
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from peakcnn.sources import imported_modules, module_closure, module_file

REPO = Path(__file__).resolve().parents[1]
MOTIF = "CACGTG"
# What a run needs from the repository; copied so that tests can edit library modules safely.
PROJECT_PARTS = ("Snakefile", "workflow", "src/peakcnn", "config/config.schema.yaml", "envs")


def write_tiny_inputs(folder: Path, seed: int = 0) -> dict:
    """Four 50 kb chromosomes (soft-masked stretch, an N run) and 320 peaks with a G-box."""
    rng = np.random.default_rng(seed)
    chroms = {f"Chr{i}": rng.choice(list("ACGT"), 50_000) for i in (1, 2, 3, 4)}
    peaks = []
    for name, bases in chroms.items():
        for start in sorted(rng.choice(np.arange(300, 49_400, 250), 80, replace=False)):
            for offset in (-20, 0, 20):
                at = start + 50 + offset
                bases[at : at + len(MOTIF)] = list(MOTIF)
            peaks.append(f"{name}\t{start}\t{start + 101}\t{name}:{start}\t100\t.\t5\t3\t2\t50")
        bases[1000:1500] = np.char.lower(bases[1000:1500])
    chroms["Chr2"][5000:5100] = "N"
    genome = folder / "genome.fa.gz"
    with gzip.open(genome, "wt") as handle:
        for name, bases in chroms.items():
            handle.write(f">{name}\n{''.join(bases)}\n")
    bed = folder / "peaks.narrowPeak"
    bed.write_text("track name=tiny\n" + "\n".join(peaks) + "\n")
    return {"genome": genome, "peaks": bed}


def tiny_config(inputs: dict) -> dict:
    """The default config, shrunk to run in about a minute."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    sha = hashlib.sha256(inputs["genome"].read_bytes()).hexdigest()
    config["datasets"] = {
        "tiny": {
            "genome": {"source": str(inputs["genome"]), "sha256": sha},
            "peaks": {"source": inputs["peaks"].as_uri()},
        }
    }
    config["windows"]["length"] = 200
    config["split"].update(val_fraction=0.3, test_fraction=0.3)
    config["train"].update(
        epochs=6,
        batch_size=32,
        patience=0,
        amp="none",  # float32 on every CPU: the golden manifest may not depend on bf16 support
        seeds=2,  # basset twice (a second run and a seed ensemble); kmer_baseline once
        # Without dropout: 6 epochs of shifted windows (the default train.max_shift) are too
        # few for the tiny net to find the G-box through dropout 0.5 on 8 units.
        architecture={
            "filters": [32, 32, 32],
            "kernels": [9, 5, 3],
            "pools": [2, 2, 2],
            "conv_dropout": [0, 0, 0],
            "dense": [32, 16],
            "dense_dropout": 0.1,
        },
    )
    config["evaluate"]["bootstrap"] = 50
    config["attribute"].update(
        n_windows=4, n_shuffles=4, batch_pairs=8, logo_windows=2, logo_width=20
    )
    return config


def make_tiny_project(folder: Path) -> Path:
    """A copy of the workflow and library in ``folder`` with tiny inputs and config/config.yaml.

    Runs there use the copy's Snakefile, rules and ``src/peakcnn`` (the scripts put the
    checkout's own ``src/`` first on ``sys.path``), so a test may edit a library module
    without touching the repository.
    """
    for part in PROJECT_PARTS:
        source, target = REPO / part, folder / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    inputs = write_tiny_inputs(folder)
    (folder / "config/config.yaml").write_text(yaml.safe_dump(tiny_config(inputs)))
    return folder


def snakemake(
    workdir: Path, *args: str, snakefile: Path | None = None, timeout: float = 1800
) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` on its own Snakefile (a project copy) or the repository's.

    The time limit allows for a busy machine: a whole tiny run takes about 2 minutes alone on
    2 cores, and over 15 at a load of 12.
    """
    command = snakemake_command(workdir, *args, snakefile=snakefile)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def snakemake_command(workdir: Path, *args: str, snakefile: Path | None = None) -> list[str]:
    """The command line of a snakemake run in ``workdir`` (see ``snakemake``)."""
    if snakefile is None:
        own = workdir / "Snakefile"
        snakefile = own if own.exists() else REPO / "Snakefile"
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,
    ]


def run_in_terminal(command: list[str], timeout: float = 600) -> tuple[int, str]:
    """Run a command on a pseudo-terminal (stdin, stdout, stderr); its exit status and output.

    The terminal is 120 x 40 characters, as a terminal window would be (a new pseudo-terminal
    is 0 x 0, on which tqdm draws an empty bar).
    """
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the terminal closed with the process
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        os.close(leader)
    return process.returncode, b"".join(chunks).decode(errors="replace")


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rules (and job counts) that a dry run would execute."""
    result = snakemake(workdir, "-n", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def list_rules(workdir: Path, *args: str) -> set[str]:
    """Names of the workflow's rules, from ``snakemake --list-rules``.

    Each name starts a line, followed by the first docstring line in parentheses; further
    docstring lines are indented or blank.
    """
    result = snakemake(workdir, "--list-rules", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return set(re.findall(r"^(\w+)(?= \(|$)", result.stdout, re.MULTILINE))


# --- static view of the rules: env file, script, and the library code each one runs ----------

LIBRARY = REPO / "src/peakcnn"


def third_party_imports(path: Path, dotted: bool = False) -> set[str]:
    """Top-level names of the non-stdlib, non-peakcnn modules a file imports (anywhere in it).

    With ``dotted``, the full module names instead (``torch.utils.tensorboard``).
    """
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    skip = set(sys.stdlib_module_names) | {"peakcnn", "__future__"}
    found = {name for name in found if name.split(".")[0] not in skip}
    return found if dotted else {name.split(".")[0] for name in found}


@dataclass
class RuleCode:
    """One rule as written in the rule files: env file, script, library code it runs."""

    name: str
    env: Path | None = None
    script: Path | None = None
    #: library modules listed by the rule's script_code(...) inputs, followed through imports
    code_modules: set[str] = field(default_factory=set)
    #: peakcnn modules the rule's script imports itself
    script_modules: set[str] = field(default_factory=set)
    #: everything the job runs: both of the above, followed through imports
    modules: set[str] = field(default_factory=set)
    #: third-party modules imported by the script and those modules
    imports: set[str] = field(default_factory=set)
    #: the same, as full module names (``torch.utils.tensorboard``)
    dotted_imports: set[str] = field(default_factory=set)
    #: the rule's own ``resources: gpu=`` (0 if it declares none)
    gpu: int = 0
    #: what the rule declares from the config's ``resources`` section (threads, mem_mb, ...)
    resources: set[str] = field(default_factory=set)
    #: ``localrule: True``: runs in the main snakemake process, never as a cluster job
    local: bool = False


def _directive(body: str, name: str) -> str | None:
    """The quoted value of a one-line directive (``conda:``, ``script:``) in a rule body."""
    match = re.search(rf"^\s+{name}:\s*\n\s+\"([^\"]+)\"", body, re.MULTILINE)
    return match[1] if match else None


def rule_code(repo: Path = REPO) -> dict[str, RuleCode]:
    """Every ``rule NAME:`` block of the Snakefile and ``workflow/rules/*.smk``, read statically."""
    rules = {}
    for path in [repo / "Snakefile", *sorted((repo / "workflow/rules").glob("*.smk"))]:
        pattern = r"^rule (\w+):\n((?:[ \t]+.*\n|[ \t]*\n)*)"
        for match in re.finditer(pattern, path.read_text(), re.MULTILINE):
            rule = RuleCode(match[1])
            body = match[2]
            conda, script = _directive(body, "conda"), _directive(body, "script")
            gpu = re.search(r"^\s+gpu=(\d+)", body, re.MULTILINE)
            rule.gpu = int(gpu[1]) if gpu else 0
            rule.local = re.search(r"^\s+localrule: True$", body, re.MULTILINE) is not None
            rule.resources = set(re.findall(rf'rule_resource\("{rule.name}", "(\w+)"\)', body))
            rule.env = (path.parent / conda).resolve() if conda else None
            rule.script = (path.parent / script).resolve() if script else None
            listed = re.search(r'script_code\("(\w+)"\)', body)
            if listed:
                script_file = REPO / "workflow/scripts" / f"{listed[1]}.py"
                rule.code_modules = module_closure(imported_modules(script_file, LIBRARY), LIBRARY)
            if rule.script:
                rule.script_modules = imported_modules(rule.script, LIBRARY)
            rule.modules = module_closure(rule.script_modules, LIBRARY)
            files = [module_file(name, LIBRARY) for name in rule.modules]
            files += [rule.script] if rule.script else []
            rule.dotted_imports = set().union(set(), *(third_party_imports(f, True) for f in files))
            rule.imports = {name.split(".")[0] for name in rule.dotted_imports}
            rules[rule.name] = rule
    return rules
