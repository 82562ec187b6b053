"""Compare the models of one dataset (wrapper around peakcnn.evaluation.compare.compare_models)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.evaluation.compare import compare_models
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
cfg = json.loads(snakemake.params.cfg)
models = cfg["models"]
compare_models(
    metrics_paths=dict(zip(models, snakemake.input.metrics, strict=True)),
    predictions_paths=dict(zip(models, snakemake.input.predictions, strict=True)),
    table_path=snakemake.output.table,
    plot_path=snakemake.output.plot,
    baseline=cfg.get("baseline"),
    bootstrap=cfg.get("bootstrap", 1000),
    seed=cfg.get("seed", 0),
)
