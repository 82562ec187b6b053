"""Join attribution chunks (wrapper around peakcnn.interpret.attribute.compute_attributions)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.interpret.attribute import GATHER_OPTIONS, compute_attributions
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
cfg = json.loads(snakemake.params.cfg)
compute_attributions(
    chunk_paths=list(snakemake.input.chunks),
    shap_path=snakemake.output.shap,
    logos_path=snakemake.output.logos,
    qc_path=snakemake.output.qc,
    **{key: cfg[key] for key in GATHER_OPTIONS if key in cfg},
)
