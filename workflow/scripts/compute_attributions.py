"""SHAP attributions (wrapper around peakcnn.attribute.compute_attributions)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # this checkout's peakcnn

from peakcnn.attribute import compute_attributions
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
compute_attributions(
    model_path=snakemake.input.model,
    data_path=snakemake.input.test,
    shap_path=snakemake.output.shap,
    logos_path=snakemake.output.logos,
    qc_path=snakemake.output.qc,
    threads=snakemake.threads,
    **json.loads(snakemake.params.cfg),
)
