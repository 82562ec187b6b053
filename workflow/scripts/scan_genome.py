"""Scan a split's regions or the genome with a trained model (peakcnn.apply.scan wrapper)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.apply.loading import load_model
from peakcnn.apply.scan import scan_to_folder
from peakcnn.devices import set_threads
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
set_threads(snakemake.threads)
cfg = json.loads(snakemake.params.cfg)
scan_to_folder(
    load_model(snakemake.input.model, metrics=snakemake.input.metrics),
    snakemake.input.fasta,
    snakemake.output.tracks,
    snakemake.output.summary,
    name=cfg["name"],
    stride=cfg["stride"],
    regions=snakemake.input.regions or None,
    contigs=cfg.get("contigs"),
    both_strands=cfg.get("both_strands", False),
)
