"""Motifs from attributions (wrapper around peakcnn.interpret.motifs.find_motifs)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.interpret.motifs import find_motifs
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
find_motifs(
    shap_path=snakemake.input.shap,
    modisco_path=snakemake.output.modisco,
    matches_path=snakemake.output.matches,
    logos_path=snakemake.output.logos,
    summary_path=snakemake.output.summary,
    threads=snakemake.threads,
    **json.loads(snakemake.params.cfg),
)
