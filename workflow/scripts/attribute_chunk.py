"""One chunk of attributions (wrapper around peakcnn.interpret.attribute.attribute_chunk)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.interpret.attribute import CHUNK_OPTIONS, attribute_chunk
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
cfg = json.loads(snakemake.params.cfg)
attribute_chunk(
    model_path=snakemake.input.model,
    data_path=snakemake.input.test,
    chunk_path=snakemake.output.chunk,
    chunk=int(snakemake.wildcards.chunk),
    chunks=int(cfg.get("chunks", 1)),
    threads=snakemake.threads,
    **{key: cfg[key] for key in CHUNK_OPTIONS if key in cfg},
)
