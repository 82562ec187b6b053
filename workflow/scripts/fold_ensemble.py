"""List one model's fold models as an ensemble (peakcnn.apply.ensemble.write_ensemble_file)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.apply.ensemble import write_ensemble_file
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
write_ensemble_file(
    snakemake.output.ensemble,
    list(snakemake.input.models),  # fold 0 first
    dataset=snakemake.wildcards.dataset,
    model=snakemake.wildcards.model,
    folds=snakemake.params.folds,
    use="new data only: every window of the dataset trained some member (no ensemble test metric)",
)
