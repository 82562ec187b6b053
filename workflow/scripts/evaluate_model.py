"""Evaluate one model on the test split (wraps peakcnn.evaluation.evaluate.evaluate_model)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.evaluation.config import EvalConfig, EvalInputs, EvalOutputs
from peakcnn.evaluation.evaluate import evaluate_model
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
evaluate_model(
    EvalInputs(
        model=snakemake.input.model,
        val=snakemake.input.val,
        test=snakemake.input.test,
        history=snakemake.input.history,
        train_report=snakemake.input.train_report,
        regions=snakemake.input.regions,
        fasta=snakemake.input.fasta,
        homology=snakemake.input.homology or None,
    ),
    EvalOutputs(
        metrics=snakemake.output.metrics,
        table=snakemake.output.table,
        predictions=snakemake.output.predictions,
        roc=snakemake.output.roc,
        pr=snakemake.output.pr,
        calibration=snakemake.output.calibration,
        scores=snakemake.output.scores,
        training=snakemake.output.training,
        groups=snakemake.output.groups,
        robustness=snakemake.output.robustness,
        robustness_plot=snakemake.output.robustness_plot,
    ),
    EvalConfig(**json.loads(snakemake.params.cfg)),
    threads=snakemake.threads,
)
