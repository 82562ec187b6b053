"""Define split regions and assign positives (wrapper around peakcnn.data.split.split_windows)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.data.split import split_windows
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
split_windows(
    fasta_path=snakemake.input.fasta,
    positives_path=snakemake.input.positives,
    regions_path=snakemake.output.regions,
    assigned_path=snakemake.output.assigned,
    summary_path=snakemake.output.summary,
    **json.loads(snakemake.params.cfg),
)
