"""Summarise k-fold test metrics (wrapper around peakcnn.evaluation.folds.summarise_folds)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.evaluation.folds import summarise_folds
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
paths = iter(snakemake.input.metrics)  # fold-major, models in config order (the rule's input)
summarise_folds(
    metrics_paths={
        f"fold{fold}": {model: next(paths) for model in snakemake.params.models}
        for fold in range(snakemake.params.folds)
    },
    table_path=snakemake.output.table,
    summary_path=snakemake.output.summary,
)
