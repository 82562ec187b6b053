"""Evaluate one model on the test split (wraps peakcnn.evaluation.evaluate.evaluate_model)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.evaluation.evaluate import evaluate_model
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
evaluate_model(
    model_path=snakemake.input.model,
    val_path=snakemake.input.val,
    test_path=snakemake.input.test,
    metrics_path=snakemake.output.metrics,
    table_path=snakemake.output.table,
    predictions_path=snakemake.output.predictions,
    roc_path=snakemake.output.roc,
    pr_path=snakemake.output.pr,
    calibration_path=snakemake.output.calibration,
    scores_path=snakemake.output.scores,
    history_path=snakemake.input.history,
    training_path=snakemake.output.training,
    regions_path=snakemake.input.regions,
    groups_path=snakemake.output.groups,
    fasta_path=snakemake.input.fasta,
    robustness_path=snakemake.output.robustness,
    robustness_plot_path=snakemake.output.robustness_plot,
    homology_path=snakemake.input.homology or None,
    threads=snakemake.threads,
    **json.loads(snakemake.params.cfg),
)
