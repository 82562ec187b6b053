"""Export a trained model as TorchScript and ONNX (wrapper around peakcnn.apply.export)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # our peakcnn

from peakcnn.apply.export import export_model
from peakcnn.apply.loading import load_model
from peakcnn.logs import log_to_file

log_to_file(snakemake.log[0])
export_model(
    load_model(snakemake.input.model, data_hash=True),
    str(Path(snakemake.output.onnx).with_suffix("")),
)
