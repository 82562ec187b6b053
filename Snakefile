"""peakcnn: genome FASTA + peaks → windows → negatives → one-hot → split → CNN → metrics → SHAP."""

import re
import sys
from pathlib import Path

from snakemake.utils import min_version

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # our peakcnn
from peakcnn.config_check import validate_config

min_version("9.0")


# The defaults of every stage (relative to the working directory: a copy of config/ may be
# edited). A --configfile is merged over them; when no config names a dataset, the demo of
# config/demo.yaml runs. So `snakemake --configfile my.yaml` runs my datasets only.
configfile: "config/config.yaml"


if not config.get("datasets"):

    configfile: "config/demo.yaml"


validate_config(config, Path(workflow.basedir) / "config/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset="|".join(map(re.escape, dict.fromkeys(DATASETS + RUNS))),
    model="|".join(map(re.escape, MODELS)),
    task="[A-Za-z0-9_.-]+",
    seedtag=r"(?:-seed\d+)?",


include: "workflow/rules/data.smk"
include: "workflow/rules/homology.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/interpret.smk"
include: "workflow/rules/apply.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
