"""Make summit-centred positive windows (wrapper around peakcnn.windows.make_windows)."""

import json
import sys
from pathlib import Path

# this checkout's peakcnn; scriptdir is workflow/rules/../scripts, so resolve it first
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from peakcnn.logs import log_to_file
from peakcnn.windows import make_windows

log_to_file(snakemake.log[0])
make_windows(
    peaks_path=snakemake.input.peaks,
    fasta_path=snakemake.input.fasta,
    positives_path=snakemake.output.positives,
    summary_path=snakemake.output.summary,
    **json.loads(snakemake.params.cfg),
)
