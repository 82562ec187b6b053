"""Train one model (wrapper around peakcnn.training.train.train_model)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.logs import log_to_file
from peakcnn.training.train import train_model

log_to_file(snakemake.log[0])
settings = json.loads(snakemake.params.cfg)
finetune = settings.pop("finetune", None)
if finetune is not None:  # the source and the splits it must not have trained on
    finetune.update(source=snakemake.input.source_model, test_path=snakemake.input.test)
train_model(
    train_path=snakemake.input.train,
    val_path=snakemake.input.val,
    model_path=snakemake.output.model,
    history_path=snakemake.output.history,
    report_path=snakemake.output.report,
    model=snakemake.wildcards.model,
    threads=snakemake.threads,
    finetune=finetune,
    **settings,
)
