"""Label, leak-check and encode the dataset (wrapper around peakcnn.data.dataset.build_dataset)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.data.dataset import build_dataset
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
build_dataset(
    assigned_path=snakemake.input.assigned,
    negatives_path=snakemake.input.negatives,
    split_paths={split: snakemake.output[split] for split in ("train", "val", "test")},
    split_report_path=snakemake.output.report,
    tasks=list(snakemake.params.tasks),
    fasta_path=snakemake.input.fasta,
    split_summary=json.loads(Path(snakemake.input.summary).read_text()),
    **json.loads(snakemake.params.cfg),
)
