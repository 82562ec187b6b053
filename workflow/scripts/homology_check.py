"""Align val/test windows to train windows (wrapper around peakcnn.data.homology.check_homology)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.data.homology import check_homology
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
settings = json.loads(snakemake.params.cfg)
settings.pop("enabled")
check_homology(
    train_path=snakemake.input.train,
    val_path=snakemake.input.val,
    test_path=snakemake.input.test,
    table_path=snakemake.output.table,
    summary_path=snakemake.output.summary,
    threads=snakemake.threads,
    **settings,
)
