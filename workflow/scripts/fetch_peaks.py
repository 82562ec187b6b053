"""Fetch the peak file (wrapper around peakcnn.fetch.fetch_file)."""

import json
import sys
from pathlib import Path

# this checkout's peakcnn; scriptdir is workflow/rules/../scripts, so resolve it first
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from peakcnn.fetch import fetch_file
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
fetch_file(dest=snakemake.output.bed, kind="bed", **json.loads(snakemake.params.cfg))
