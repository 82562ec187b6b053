"""Make summit-centred positive windows (wrapper around peakcnn.data.windows.make_windows)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.data.windows import make_windows
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0], sources=json.loads(snakemake.params.user_files))
make_windows(
    peaks_path=dict(zip(snakemake.params.tasks, snakemake.input.peaks, strict=True)),
    all_peaks_path=snakemake.output.all_peaks,
    fasta_path=snakemake.input.fasta,
    positives_path=snakemake.output.positives,
    summary_path=snakemake.output.summary,
    **json.loads(snakemake.params.cfg),
)
