"""Golden manifest of a finished workflow run: every output reduced to what must not change.

The manifest is one flat, sorted mapping. Each file under the results directory has an entry
named by its path (relative to the results directory) whose value says how it is pinned, and
entries ``<path>::<part>`` for its parts:

- ``.npz``: per array, a sha256 of its dtype, shape and bytes;
- JSON: every leaf value (``a.b[0].c``), floats kept to 10 significant digits;
- TSV (``.tsv``, ``.tsv.gz``): the header, the row count and per column the values (tables of
  up to ``SMALL_TABLE_ROWS`` rows) or a sha256 of them, floats kept to 10 significant digits;
- BED, bedGraph, FASTA and its index: the line count and a sha256 of the text;
- ``model.pt``: every tensor of the checkpoint hashed, every other value as in JSON;
  TorchScript and ONNX exports: their weights hashed, their metadata as in JSON;
- HDF5 (modisco-lite's results): every dataset hashed, every attribute as in JSON;
- PNG: present with PNG magic bytes; bigWig, PDF, HTML, TensorBoard events: present.

Fields that differ between two identical runs on one machine (timings, throughput, device and
version names) and absolute paths (replaced by ``<RESULTS>`` and ``<WORKDIR>``) are left out;
``VOLATILE_FIELD`` and ``EXCLUDED`` say which and why. A file of a kind with no rule here stops
the build, naming the file: a new kind of output needs a rule before it can be pinned.
"""

from __future__ import annotations

import csv
import fnmatch
import gzip
import hashlib
import json
import math
import platform
import re
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

#: The stored manifest of the tiny run (tests/conftest.py ``tiny_run``).
GOLDEN = Path(__file__).parent / "data/golden/tiny.json"
#: The library versions the stored manifest was made with (a hint when it fails, not compared).
LIBRARIES = Path(__file__).parent / "data/golden/tiny.libraries.json"
#: Set to 1 to rewrite ``GOLDEN`` from this run instead of comparing (see tests/test_golden.py).
UPDATE = "PEAKCNN_UPDATE_GOLDEN"
#: Floats are compared to this many significant digits (a relative 1e-9, give or take).
SIGNIFICANT_DIGITS = 10
#: TSV tables up to this many rows are stored value by value, longer ones as a hash per column.
SMALL_TABLE_ROWS = 10

# JSON keys and TSV columns that differ between two runs of the same workflow on the same
# machine, or between machines, without any change of what was computed: wall-clock timings
# and throughput (``seconds``, ``total_seconds``, ``windows_per_s``,
# ``attributions_per_second``), the device and host the run happened on, and library versions
# (``shap_version``). Also ``training_data_sha256``, the export metadata's hash of the bytes of
# ``train.npz``: a zip container whose bytes depend on the Python version's zipfile writer
# (3.11.2 and 3.11.7 differ), while the arrays in it are pinned one by one. Every other field is
# pinned.
VOLATILE_FIELD = re.compile(
    r"(seconds|.*_seconds|.*_per_s|.*_per_second|.*wall.*"
    r"|device|device_name|host|hostname|version|.*_version|training_data_sha256)"
)

# Files left out of the manifest (fnmatch patterns on the path relative to the results
# directory), each with the reason.
EXCLUDED = {
    # Logs are not outputs (the workflow writes them under logs/, not results/).
    "*.log": "logs are not outputs",
}

#: Outputs of the stages before training (under ``<dataset>/``): integers, uint8 arrays and
#: text that every CPU reproduces exactly.
DATA_STAGES = ("genome/", "peaks/", "windows/", "negatives/", "split/", "dataset/")

#: TensorBoard event files are named ``events.out.tfevents.<time>.<host>.<pid>.<n>``.
TFEVENTS = re.compile(r"events\.out\.tfevents\..*")


def build_manifest(results: Path, workdir: Path | None = None) -> dict[str, object]:
    """The manifest of every file under ``results`` (see the module docstring).

    Parameters
    ----------
    results
        A run's results directory (``<workdir>/results``).
    workdir
        The run's working directory, replaced by ``<WORKDIR>`` in every string and text;
        ``results``'s parent when not given.

    Returns
    -------
    dict
        Entry name -> pinned value, sorted by name.
    """
    replace = _path_replacer(results, workdir or results.parent)
    manifest: dict[str, object] = {}
    for path in sorted(p for p in results.rglob("*") if p.is_file()):
        relative = path.relative_to(results).as_posix()
        if any(fnmatch.fnmatch(relative, pattern) for pattern in EXCLUDED):
            continue
        name = TFEVENTS.sub("events.out.tfevents.<time>.<host>.<pid>", relative)
        kind, read = _reader(path)
        manifest[name] = kind
        for part, value in read(path, replace):
            manifest[f"{name}::{part}"] = value
    return dict(sorted(manifest.items()))


def differences(expected: dict, actual: dict) -> list[str]:
    """One line per entry that is missing, new or different, sorted by entry name."""
    lines = []
    for key in sorted(set(expected) | set(actual)):
        if key not in actual:
            lines.append(f"missing: {key} (expected {_short(expected[key])})")
        elif key not in expected:
            lines.append(f"new: {key} = {_short(actual[key])}")
        elif expected[key] != actual[key]:
            lines.append(
                f"changed: {key}: expected {_short(expected[key])}, got {_short(actual[key])}"
            )
    return lines


def portable(manifest: dict) -> dict:
    """The part of a manifest that a run on another CPU must reproduce.

    Every file with its kind, and every entry of the data stages (``DATA_STAGES``). Trained
    weights and all that is computed from them differ between CPUs (another instruction set
    makes oneDNN round differently, and SGD amplifies the last bits: on a second CPU the tiny
    run's second seed ends with another confusion matrix), so those parts are compared only on
    the CPU that made the manifest (``libraries()["cpu"]``).
    """
    kept = {}
    for key, value in manifest.items():
        path, _, part = key.partition("::")
        stage = path.split("/", 1)[-1]
        if not part or stage.startswith(DATA_STAGES):
            kept[key] = value
    return kept


def write_manifest(manifest: dict, path: Path = GOLDEN) -> None:
    """Write a manifest as readable JSON with sorted keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def read_manifest(path: Path = GOLDEN) -> dict:
    """Read a stored manifest."""
    return json.loads(path.read_text())


def libraries() -> dict[str, str]:
    """The versions and machine that floats depend on (stored beside the manifest, not in it)."""
    from importlib.metadata import version

    found = {name: version(name) for name in ("torch", "numpy", "scikit-learn", "shap", "onnx")}
    return {
        **found,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": cpu(),
    }


def cpu() -> str:
    """The CPU: model, the instruction set torch's kernels use and a hash of its feature flags.

    Trained floats follow these; two machines with the same string compute the same bits.
    """
    import torch

    from peakcnn.devices import device_name

    flags = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.findall(r"^flags\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        flags = " ".join(sorted(found[0].split())) if found else ""
    digest = hashlib.sha256(flags.encode()).hexdigest()[:12]
    model = device_name(torch.device("cpu"))
    return f"{model}; {torch.backends.cpu.get_cpu_capability()}; flags {digest}"


def manifest_cpu(path: Path = LIBRARIES) -> str | None:
    """The CPU the stored manifest was made on (None when not recorded)."""
    return json.loads(path.read_text()).get("cpu") if path.exists() else None


def write_libraries(path: Path = LIBRARIES) -> None:
    """Record ``libraries()`` as readable JSON."""
    path.write_text(json.dumps(libraries(), indent=1, sort_keys=True) + "\n")


def library_changes(path: Path = LIBRARIES) -> list[str]:
    """``name: stored -> now`` for each library version that differs from the recorded ones."""
    stored = json.loads(path.read_text()) if path.exists() else {}
    now = libraries()
    return [
        f"{name}: {stored.get(name)} -> {now.get(name)}"
        for name in sorted(set(stored) | set(now))
        if stored.get(name) != now.get(name)
    ]


def keep_pristine_copy(workdir: Path) -> None:
    """Copy a finished run's results aside, before any test adds to or edits them."""
    shutil.copytree(workdir / "results", pristine_results(workdir), symlinks=True)


def pristine_results(workdir: Path) -> Path:
    """Where ``keep_pristine_copy`` put a run's results."""
    return workdir.parent / f"{workdir.name}-pristine-results"


def _short(value: object, width: int = 120) -> str:
    """A value's JSON, cut to ``width`` characters."""
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= width else text[: width - 3] + "..."


def _path_replacer(results: Path, workdir: Path) -> Callable[[str], str]:
    """A function replacing the results and working directories (as given and resolved)."""
    pairs = []
    for path, placeholder in ((results, "<RESULTS>"), (workdir, "<WORKDIR>")):
        for form in {str(path), str(path.resolve())}:
            pairs.append((form, placeholder))
    pairs.sort(key=lambda pair: -len(pair[0]))  # the longest (innermost) directory first

    def replace(text: str) -> str:
        for form, placeholder in pairs:
            text = text.replace(form, placeholder)
        return text

    return replace


Parts = Iterator[tuple[str, object]]


def _reader(path: Path) -> tuple[str, Callable[[Path, Callable[[str], str]], Parts]]:
    """The kind of a file and the function reading its parts; a clear error for other kinds."""
    name = path.name
    if TFEVENTS.fullmatch(name):
        # Event files hold wall times: present only (their values are in history.tsv).
        return "present", _nothing
    if name == ".snakemake_timestamp":  # snakemake's marker in a directory output
        return "present", _nothing
    for suffixes, kind, read in READERS:
        if name.endswith(suffixes):
            return kind, read
    raise ValueError(
        f"{path}: no golden-manifest rule for this kind of file; add one to READERS or "
        "EXCLUDED in tests/golden.py"
    )


def _nothing(path: Path, replace: Callable[[str], str]) -> Parts:
    """No parts: the file is pinned by its presence."""
    return iter(())


def _png(path: Path, replace: Callable[[str], str]) -> Parts:
    """Whether the file starts with PNG's magic bytes (plots are not compared pixel by pixel)."""
    yield "png_magic", path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _npz(path: Path, replace: Callable[[str], str]) -> Parts:
    """A hash of each array of an ``.npz`` archive."""
    with np.load(path, allow_pickle=False) as archive:
        for key in sorted(archive.files):
            yield key, _array_hash(archive[key])


def _json(path: Path, replace: Callable[[str], str]) -> Parts:
    """Every leaf of a JSON document."""
    yield from _leaves(json.loads(path.read_text()), "", replace)


def _tsv(path: Path, replace: Callable[[str], str]) -> Parts:
    """A TSV table's header, row count and columns (values or a hash per column)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    yield "header", header
    yield "rows", len(body)
    for index, column in enumerate(header):
        if VOLATILE_FIELD.fullmatch(column):
            continue
        values = [_cell(row[index], replace) if index < len(row) else None for row in body]
        if len(body) <= SMALL_TABLE_ROWS:
            yield f"column={column}", values
        else:
            yield f"column={column}", _digest(json.dumps(values).encode())
    widths = sorted({len(row) for row in body})
    if widths and widths != [len(header)]:  # rows wider or narrower than the header
        yield "row_widths", widths


def _text(path: Path, replace: Callable[[str], str]) -> Parts:
    """A text file's line count and a hash of its text (paths replaced)."""
    text = replace(path.read_text())
    yield "lines", text.count("\n")
    yield "sha256", _digest(text.encode())


def _torch_checkpoint(path: Path, replace: Callable[[str], str]) -> Parts:
    """Every tensor of a checkpoint hashed, every other value as in JSON."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    yield from _leaves(checkpoint, "", replace)


def _torchscript(path: Path, replace: Callable[[str], str]) -> Parts:
    """A TorchScript archive's weights and its JSON extra files.

    Its code is not pinned: it names the Python modules the model was scripted from, which a
    reorganisation of the package changes without changing what the model computes (the
    export report pins the exported model's outputs against the checkpoint's).
    """
    import torch

    with warnings.catch_warnings():  # torch.jit.load is deprecated; the exports still use it
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu")
    for key, tensor in module.state_dict().items():
        yield f"state_dict.{key}", _array_hash(tensor)
    with zipfile.ZipFile(path) as archive:
        for member in sorted(archive.namelist()):
            if "/extra/" in member and member.endswith(".json"):
                extra = json.loads(archive.read(member))
                yield from _leaves(extra, f"extra.{member.rsplit('/', 1)[1]}", replace)


def _onnx(path: Path, replace: Callable[[str], str]) -> Parts:
    """An ONNX model's weights, operators, inputs and outputs, opsets and metadata.

    The producer's name and version are not pinned (they are the exporting library's).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    for tensor in graph.initializer:
        yield f"initializer.{tensor.name}", _array_hash(numpy_helper.to_array(tensor))
    yield "nodes", [node.op_type for node in graph.node]
    yield "inputs", [value.name for value in graph.input]
    yield "outputs", [value.name for value in graph.output]
    yield (
        "opsets",
        sorted(f"{opset.domain or 'ai.onnx'}:{opset.version}" for opset in model.opset_import),
    )
    for prop in model.metadata_props:
        try:  # JSON metadata (peakcnn.json) leaf by leaf, other metadata as text
            yield from _leaves(json.loads(prop.value), f"metadata.{prop.key}", replace)
        except json.JSONDecodeError:
            yield f"metadata.{prop.key}", _cell(prop.value, replace)


def _hdf5(path: Path, replace: Callable[[str], str]) -> Parts:
    """Every dataset of an HDF5 file hashed and every attribute (of groups and datasets)."""
    import h5py

    parts: list[tuple[str, object]] = []

    def visit(name: str, item: object) -> None:
        if isinstance(item, h5py.Dataset):
            parts.append((name, _array_hash(np.asarray(item[()]))))
        for key, value in item.attrs.items():
            parts.extend(_leaves(value, f"{name}@{key}", replace))

    with h5py.File(path, "r") as handle:
        for key, value in handle.attrs.items():
            parts.extend(_leaves(value, f"@{key}", replace))
        handle.visititems(visit)
    yield from sorted(parts, key=lambda part: part[0])


# Longest suffixes first: ``.tsv.gz`` before any shorter one.
READERS: tuple[tuple[tuple[str, ...], str, Callable[[Path, Callable[[str], str]], Parts]], ...] = (
    ((".tsv.gz", ".tsv"), "tsv", _tsv),
    ((".json",), "json", _json),
    ((".npz",), "npz", _npz),
    ((".bed", ".bedGraph", ".fa", ".fai"), "text", _text),
    ((".pt",), "torch checkpoint", _torch_checkpoint),
    ((".ts",), "torchscript", _torchscript),
    ((".onnx",), "onnx", _onnx),
    ((".h5",), "hdf5", _hdf5),
    ((".png",), "png", _png),
    ((".bw", ".bigWig", ".pdf", ".html"), "present", _nothing),
)


def _leaves(value: object, prefix: str, replace: Callable[[str], str]) -> Parts:
    """The leaves of nested dicts and lists, named ``a.b[0].c``; volatile keys left out."""
    if isinstance(value, dict):
        if not value:
            yield prefix, {}
        for key in sorted(value, key=str):
            if VOLATILE_FIELD.fullmatch(str(key)):
                continue
            yield from _leaves(value[key], f"{prefix}.{key}" if prefix else str(key), replace)
    elif isinstance(value, list | tuple):
        if not value:
            yield prefix, []
        for index, item in enumerate(value):
            yield from _leaves(item, f"{prefix}[{index}]", replace)
    elif isinstance(value, np.generic):  # a NumPy scalar (HDF5 attributes)
        yield prefix, _scalar(value.item(), replace)
    elif hasattr(value, "shape") and hasattr(value, "dtype"):  # a tensor or an array
        yield prefix, _array_hash(value)
    else:
        yield prefix, _scalar(value, replace)


def _scalar(value: object, replace: Callable[[str], str]) -> object:
    """A JSON scalar as pinned: floats rounded, paths replaced, non-finite floats as text."""
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return replace(value)
    raise TypeError(f"no golden-manifest rule for a value of type {type(value).__name__}")


INTEGER = re.compile(r"[+-]?\d+")


def _cell(text: str, replace: Callable[[str], str]) -> object:
    """A TSV cell (or metadata text) as pinned: an int, a float as in JSON, or text."""
    if INTEGER.fullmatch(text):
        return int(text)
    if "_" not in text:
        try:
            return _scalar(float(text), replace)
        except ValueError:
            pass
    return replace(text)


def _array_hash(array: object) -> str:
    """``dtype shape sha256`` of a NumPy array or torch tensor (its bytes in C order)."""
    if not isinstance(array, np.ndarray):  # a torch tensor
        tensor = array.detach().cpu().contiguous()
        raw = tensor.reshape(-1).view(_torch_uint8()).numpy().tobytes()
        dtype, shape = str(tensor.dtype).removeprefix("torch."), tuple(tensor.shape)
    elif array.dtype == object:  # strings of variable length (HDF5): their text, not pointers
        items = [item.decode() if isinstance(item, bytes) else str(item) for item in array.flat]
        raw, dtype, shape = json.dumps(items).encode(), "object", array.shape
    else:
        raw, dtype, shape = np.ascontiguousarray(array).tobytes(), array.dtype.str, array.shape
    digest = hashlib.sha256(f"{dtype}|{shape}|".encode() + raw).hexdigest()
    return f"{dtype} {list(shape)} sha256:{digest}"


def _torch_uint8() -> object:
    """``torch.uint8`` (torch is imported only where a checkpoint is read)."""
    import torch

    return torch.uint8


def _digest(data: bytes) -> str:
    """``sha256:<hex>`` of some bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()
