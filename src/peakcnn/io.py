"""Small file helpers shared by every stage: atomic writes, JSON, TSV and PNG output."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    A failure inside the block removes the temporary file, so no partial output is ever left.
    A process killed inside the block cannot remove it: the next write of the same ``path``
    removes such leftovers first (one writer per output, as under Snakemake).

    Parameters
    ----------
    path : str or os.PathLike
        The final output path; its parent folder is created if needed.

    Yields
    ------
    str
        The temporary path to write to (same folder and suffix as ``path``).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    handle, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=final.suffix)
    os.close(handle)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files an interrupted ``atomic_path(path)`` left beside ``path``.

    Only names of the form ``.{name}.{8 random characters}{suffix}`` (``tempfile.mkstemp``'s,
    as ``atomic_path`` makes them) are removed, never other files of the folder.

    Parameters
    ----------
    path : str or os.PathLike
        The final output path.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    final = Path(path)
    pattern = re.compile(
        re.escape(f".{final.name}.") + r"[a-z0-9_]{8}" + re.escape(final.suffix) + r"\Z"
    )
    removed = []
    if final.parent.is_dir():
        for candidate in final.parent.iterdir():
            if pattern.match(candidate.name) and candidate.is_file():
                candidate.unlink(missing_ok=True)
                removed.append(candidate)
    if removed:
        logger.info(
            "removed %d temporary file(s) of an interrupted write of %s", len(removed), final
        )
    return removed


def write_json(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True, default=_json_default)
        handle.write("\n")


def write_tsv(
    path: str | os.PathLike, table, float_format: str = "%.4f", na_rep: str = "NA"
) -> None:
    """Write a table as TSV without its index, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The output TSV.
    table : pandas.DataFrame
    float_format : str, default "%.4f"
        Format of float cells.
    na_rep : str, default "NA"
        Text of missing cells.
    """
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format=float_format, na_rep=na_rep)


def save_png(figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Lay out a matplotlib figure, write it as PNG atomically and close it.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    path : str or os.PathLike
        The output PNG.
    dpi : int, default 100
    """
    import matplotlib.pyplot as plt  # plotting stages only; keeps io import-light

    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=dpi, format="png")
    plt.close(figure)


def _json_default(value: object) -> object:
    """Convert NumPy scalars and arrays for ``json.dump``."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _umask() -> int:
    """Return the process umask (mkstemp files are 0600; outputs should follow the umask)."""
    current = os.umask(0)
    os.umask(current)
    return current
