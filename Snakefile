"""peakcnn: genome FASTA + peaks → windows → negatives → one-hot → split → CNN → metrics → SHAP."""

import re
import sys
from pathlib import Path

from snakemake.utils import min_version

# This checkout's folder, also when the workflow is a module of another one (whose folder is
# workflow.basedir): the library and the schema are found beside this Snakefile.
PEAKCNN_ROOT = Path(workflow.current_basedir.get_path_or_uri(secret_free=True))
sys.path.insert(0, str(PEAKCNN_ROOT / "src"))  # our peakcnn
from peakcnn.config_check import validate_config

min_version("9.0")


# The defaults of every stage (relative to the working directory: a copy of config/ may be
# edited). A --configfile is merged over them; when no config names a dataset, the demo of
# config/demo.yaml runs. So `snakemake --configfile my.yaml` runs my datasets only.
configfile: "config/config.yaml"


if not config.get("datasets"):

    configfile: "config/demo.yaml"


validate_config(config, PEAKCNN_ROOT / "config/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset="|".join(map(re.escape, dict.fromkeys(DATASETS + RUNS))),
    model="|".join(map(re.escape, MODELS)),
    task="[A-Za-z0-9_.-]+",
    seedtag=r"(?:-scratch)?(?:-seed\d+)?",


include: "workflow/rules/data.smk"
include: "workflow/rules/homology.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/interpret.smk"
include: "workflow/rules/apply.smk"
include: "workflow/rules/compress.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
