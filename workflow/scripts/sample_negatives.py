"""Sample background windows per split (wrapper around peakcnn.data.negatives.sample_negatives)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.data.negatives import sample_negatives
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
sample_negatives(
    positives_path=snakemake.input.positives,
    assigned_path=snakemake.input.assigned,
    peaks_path=snakemake.input.peaks,
    regions_path=snakemake.input.regions,
    fasta_path=snakemake.input.fasta,
    negatives_path=snakemake.output.negatives,
    report_path=snakemake.output.report,
    plot_path=snakemake.output.plot,
    **json.loads(snakemake.params.cfg),
)
