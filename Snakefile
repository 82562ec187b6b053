"""peakcnn: genome FASTA + peaks → windows → negatives → one-hot → split → CNN → metrics → SHAP."""

import re

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset="|".join(map(re.escape, dict.fromkeys(DATASETS + RUNS))),
    model="|".join(map(re.escape, MODELS)),
    task="[A-Za-z0-9_.-]+",
    seedtag=r"(?:-seed\d+)?",


include: "workflow/rules/data.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/interpret.smk"
include: "workflow/rules/apply.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
