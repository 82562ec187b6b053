"""Fetch the peak file (wrapper around peakcnn.data.fetch.fetch_file)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.data.fetch import fetch_file
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
fetch_file(dest=snakemake.output.bed, kind="bed", **json.loads(snakemake.params.cfg))
