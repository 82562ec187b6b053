"""Fetch the genome FASTA and index it (wrapper around peakcnn.data.fetch.fetch_genome)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.data.fetch import fetch_genome
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
fetch_genome(dest=snakemake.output.fasta, **json.loads(snakemake.params.cfg))
