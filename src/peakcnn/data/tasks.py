"""The task labels of windows: the ``tasks`` column, its label matrix, and labelling.

A window's ``tasks`` value names the peak sets (tasks) it is positive for, comma-joined and
sorted, or ``.`` for none (negatives).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pybedtools

from peakcnn.data.intervals import peak_centres
from peakcnn.errors import InputError

#: Task separator in the ``tasks`` column, and the value of a window positive for no task.
TASK_SEPARATOR = ","
NO_TASK = "."


def join_tasks(tasks) -> str:
    """One ``tasks`` value from task names or ``tasks`` values: unique, sorted, comma-joined."""
    names = {name for value in tasks for name in split_tasks(value)}
    return TASK_SEPARATOR.join(sorted(names)) or NO_TASK


def split_tasks(value: str) -> list[str]:
    """Return the task names of one ``tasks`` value (none for ``NO_TASK``)."""
    return [] if value == NO_TASK else value.split(TASK_SEPARATOR)


def label_matrix(values: pd.Series, tasks: list[str]) -> np.ndarray:
    """Multi-task labels (n, T) uint8 from the windows' ``tasks`` values, in ``tasks`` order.

    Raises
    ------
    InputError
        If a window names a task that is not in ``tasks``.
    """
    column = {task: index for index, task in enumerate(tasks)}
    y = np.zeros((len(values), len(tasks)), dtype=np.uint8)
    for row, value in enumerate(values):
        for task in split_tasks(value):
            if task not in column:
                raise InputError(
                    f"window {row} is labelled with task {task!r}, not one of {tasks}; "
                    "rerun make_windows with the same peak sets"
                )
            y[row, column[task]] = 1
    return y


def label_tasks(
    windows: pd.DataFrame, peaks: pd.DataFrame, length: int, label_width: int
) -> list[str]:
    """Tasks each window is positive for: those with a peak centred in its central region.

    A window is positive for a task when the summit (or midpoint) of one of that task's peaks
    lies within the central ``label_width`` bp of the window; the tasks the window was made
    from (its ``tasks``, e.g. all peaks of a merged cluster) always count.

    Parameters
    ----------
    windows : pandas.DataFrame
        ``WINDOW_COLUMNS`` rows (clipped coordinates plus padding).
    peaks : pandas.DataFrame
        Every peak of every task (``chrom, start, end, summit, tasks``), FASTA names.
    length, label_width : int
        Window length and central labelling region, in bp.

    Returns
    -------
    list of str
        One ``tasks`` value per window.
    """
    if windows.empty:
        return []
    centre = (windows["start"] - windows["pad_left"]).to_numpy() + length // 2
    central = pd.DataFrame(
        {
            "chrom": windows["chrom"].to_numpy(),
            "start": np.maximum(0, centre - label_width // 2),
            "end": centre - label_width // 2 + label_width,
            "row": np.arange(len(windows)),
        }
    )
    summits = peak_centres(peaks)
    points = pd.DataFrame(
        {"chrom": peaks["chrom"].to_numpy(), "start": summits, "end": summits + 1}
    ).assign(tasks=peaks["tasks"].to_numpy())
    found = [set(split_tasks(value)) for value in windows["tasks"]]
    hits = pybedtools.BedTool.from_dataframe(central).intersect(
        pybedtools.BedTool.from_dataframe(points), wa=True, wb=True
    )
    for fields in hits:
        found[int(fields[3])].add(fields[7])
    return [join_tasks(names) for names in found]
