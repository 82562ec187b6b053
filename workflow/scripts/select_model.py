"""Choose a dataset's reported model (wraps peakcnn.evaluation.selection.select_model)."""

import json
import sys
from pathlib import Path

# this checkout's peakcnn; scriptdir is workflow/rules/../scripts, so resolve it first
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from peakcnn.evaluation.candidates import Run
from peakcnn.evaluation.selection import select_model
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
cfg = json.loads(snakemake.params.cfg)
runs = [
    Run(name, model, seed, metrics, predictions)
    for (model, seed, name), metrics, predictions in zip(
        cfg.pop("runs"), snakemake.input.metrics, snakemake.input.predictions, strict=True
    )
]
select_model(runs, best_path=snakemake.output.best, table_path=snakemake.output.table, **cfg)
