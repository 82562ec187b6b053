"""The tiny run's outputs, file by file, against the stored golden manifest.

``tests/data/golden/tiny.json`` pins every output of the session's tiny run (``tiny_run`` in
tests/conftest.py, compared as it was right after the run, before other tests add outputs);
tests/golden.py says how each kind of file is reduced and what is left out and why.

Regenerate the stored manifest with::

    PEAKCNN_UPDATE_GOLDEN=1 python3 -m pytest -q tests/test_golden.py

which rewrites the file (and ``tiny.libraries.json`` beside it: the torch, NumPy, ... versions it
was made with, named in a failure's message), lists what changed and fails once so that the
change is reviewed (``git diff tests/data/golden/``); run it again without the variable to see
it pass.

Trained floats follow the CPU's instruction set, so the manifest is exact only on the CPU it
was made on (``cpu`` in ``tiny.libraries.json``); on another CPU the test compares every file
and the data stages exactly and the trained outputs by presence, and says so in a warning.

Regenerating is legitimate only for an intended change of outputs: a new or removed output
file or field, a fixed bug that changes numbers, a changed default, a new version of torch,
NumPy or another library that changes floats, a new CPU to pin exactly (record which, in the
commit message). It is never legitimate for a refactoring (moving modules, renaming internals,
splitting functions): a refactoring reproduces every output exactly, and a difference is a
bug in it.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np
import pytest
from golden import (
    GOLDEN,
    UPDATE,
    build_manifest,
    cpu,
    differences,
    library_changes,
    manifest_cpu,
    portable,
    pristine_results,
    read_manifest,
    write_libraries,
    write_manifest,
)

pytestmark = pytest.mark.workflow

#: How many differences a failure lists.
SHOWN = 20


def test_tiny_run_outputs_match_the_golden_manifest(tiny_run):
    """Every output of the tiny run, as pinned in tests/data/golden/tiny.json.

    On a mismatch the first 20 differing entries are listed (``missing``, ``new`` or
    ``changed``, named ``<file>::<part>``). Regenerate with
    ``PEAKCNN_UPDATE_GOLDEN=1 python3 -m pytest -q tests/test_golden.py`` only for an intended
    change of outputs (a new output, a bug fix, a new library version that changes floats),
    never to make a refactoring pass: a refactoring must reproduce every output exactly.
    """
    manifest = build_manifest(pristine_results(tiny_run), tiny_run)
    if os.environ.get(UPDATE) == "1":
        changed = differences(read_manifest(), manifest) if GOLDEN.exists() else ["(new file)"]
        write_manifest(manifest)
        write_libraries()
        pytest.fail(
            f"{UPDATE}=1: rewrote {GOLDEN} ({len(manifest)} entries, {len(changed)} changed; "
            "review `git diff` and run again without the variable):\n" + "\n".join(changed)
        )
    assert GOLDEN.exists(), f"{GOLDEN} is missing: create it with {UPDATE}=1 (see this module)"
    expected, here, made_on = read_manifest(), cpu(), manifest_cpu()
    if here != made_on:  # trained floats follow the CPU: pin files and data stages only
        warnings.warn(
            f"golden manifest made on {made_on!r}, this CPU is {here!r}: every file and the "
            "data stages compared, trained outputs only by presence",
            stacklevel=1,
        )
        expected, manifest = portable(expected), portable(manifest)
    found = differences(expected, manifest)
    assert not found, (
        f"{len(found)} entries differ from {GOLDEN} (first {SHOWN}):\n"
        + "\n".join(found[:SHOWN])
        + f"\nLibraries since the manifest was made: {library_changes() or 'none changed'}."
        + f"\nA refactoring must reproduce these outputs; regenerate with {UPDATE}=1 only for "
        "an intended change of outputs (tests/test_golden.py)."
    )


def test_the_manifest_notices_a_changed_output_and_ignores_timings(tiny_run, tmp_path):
    """A changed float, array or BED line is listed; a changed timing is not."""
    results = tmp_path / "results"
    shutil.copytree(pristine_results(tiny_run), results)
    before = build_manifest(results, tiny_run)
    train = results / "tiny/models/basset/train.json"
    stats = json.loads(train.read_text())
    stats["windows_per_s"] *= 2  # throughput: not pinned
    stats["best_val_loss"] += 1e-6  # a result: pinned
    train.write_text(json.dumps(stats))
    dataset = results / "tiny/dataset/val.npz"
    with np.load(dataset) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["y"] = arrays["y"].copy()
    arrays["y"][0] = 1 - arrays["y"][0]
    np.savez(dataset, **arrays)
    bed = results / "tiny/negatives/negatives.bed"
    bed.write_text(bed.read_text().replace("\t", " ", 1))
    found = differences(before, build_manifest(results, tiny_run))
    assert [line.split(": ")[1] for line in found] == [
        "tiny/dataset/val.npz::y",
        "tiny/models/basset/train.json::best_val_loss",
        "tiny/negatives/negatives.bed::sha256",
    ], found


def test_on_another_cpu_the_manifest_pins_files_and_data_stages_only():
    """A changed trained value passes the portable comparison; a data or file change does not."""
    golden = {
        "tiny/dataset/val.npz": "npz",
        "tiny/dataset/val.npz::y": "uint8 [4, 1] sha256:aa",
        "tiny/models/basset/train.json": "json",
        "tiny/models/basset/train.json::best_val_loss": 0.25,
    }
    retrained = golden | {"tiny/models/basset/train.json::best_val_loss": 0.2500001}
    assert differences(golden, retrained) and not differences(portable(golden), portable(retrained))
    relabelled = golden | {"tiny/dataset/val.npz::y": "uint8 [4, 1] sha256:bb"}
    assert [
        line.split(": ")[1] for line in differences(portable(golden), portable(relabelled))
    ] == ["tiny/dataset/val.npz::y"]
    lost = {k: v for k, v in golden.items() if not k.startswith("tiny/models")}
    assert differences(portable(golden), portable(lost)) == [
        'missing: tiny/models/basset/train.json (expected "json")'
    ]
