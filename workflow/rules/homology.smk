# Homology leak check: val and test windows aligned to the train windows with minimap2, so
# that repeats (transposons, tandem and segmental duplicates) shared by train and test are
# counted; evaluate_model reports the test metrics without those windows too.
HOMOLOGY_TABLE = "results/{dataset}/dataset/homology.tsv"


rule homology_check:
    """Align val and test windows to the train windows; near-identical ones per split and class."""
    input:
        train=rules.build_dataset.output.train,
        val=rules.build_dataset.output.val,
        test=rules.build_dataset.output.test,
        code=script_code("homology_check"),
    output:
        table=HOMOLOGY_TABLE,
        summary=report(
            "results/{dataset}/dataset/homology.json",
            caption="../report/homology.rst",
            category="Data",
            subcategory="{dataset}",
        ),
    log:
        "logs/homology_check/{dataset}.log",
    benchmark:
        "logs/benchmarks/homology_check/{dataset}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: rule_resource("homology_check", "threads")
    resources:
        mem_mb=rule_resource("homology_check", "mem_mb"),
        runtime=rule_resource("homology_check", "runtime"),
    params:
        cfg=stage_params("homology"),
    script:
        "../scripts/homology_check.py"
