"""Score a FASTA or BED input with a fold ensemble (peakcnn.apply.predict wrapper)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.apply.ensemble import load_models
from peakcnn.apply.predict import predict_file
from peakcnn.devices import set_threads
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
set_threads(snakemake.threads)
cfg = json.loads(snakemake.params.cfg)
predict_file(
    load_models([snakemake.input.ensemble]),
    snakemake.input.sequences,
    snakemake.output.scores,
    snakemake.input.fasta,
    both_strands=cfg.get("both_strands", False),
)
