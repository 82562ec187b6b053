"""Score the variants of a VCF/TSV with a fold ensemble (peakcnn.apply.variants wrapper)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.apply.ensemble import load_models
from peakcnn.apply.variants import score_variants
from peakcnn.devices import set_threads
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
set_threads(snakemake.threads)
cfg = json.loads(snakemake.params.cfg)
score_variants(
    load_models([snakemake.input.ensemble]),
    snakemake.input.variants,
    snakemake.input.fasta,
    snakemake.output.scores,
    snakemake.output.skipped,
    indels=cfg.get("indels", "score") == "score",
    max_ref_mismatch=cfg.get("max_ref_mismatch", 0.05),
)
