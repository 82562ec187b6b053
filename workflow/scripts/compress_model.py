"""Compress one trained model and benchmark it (wrapper around peakcnn.compress.run)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.compress.run import compress_from_settings
from peakcnn.devices import set_threads
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
set_threads(snakemake.threads)
compress_from_settings(
    snakemake.input.model,
    str(Path(snakemake.input.test).parent),
    str(Path(snakemake.output.table).parent),
    json.loads(snakemake.params.cfg),
    teachers=list(snakemake.input.teachers),
)
