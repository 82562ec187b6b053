ATTRIBUTE_CHUNKS = int(config.get("attribute", {}).get("chunks", 1))
BASELINE = config.get("evaluate", {}).get("baseline")
if BASELINE is not None and BASELINE not in MODELS:
    raise ValueError(
        f"evaluate.baseline {BASELINE!r} must be one of the models {MODELS}"
    )


rule attribute_chunk:
    """SHAP, saliency and ISM for one chunk of the top-scoring test positives (scatter)."""
    input:
        model="results/{dataset}/models/{model}/model.pt",  # the first seed's run
        test=rules.build_dataset.output.test,
        code=script_code("attribute_chunk"),
    output:
        chunk=temp("results/{dataset}/attribution/{model}/chunks/{chunk}.npz"),
    log:
        "logs/attribute_chunk/{dataset}/{model}/{chunk}.log",
    benchmark:
        "logs/benchmarks/attribute_chunk/{dataset}/{model}/{chunk}.tsv"
    wildcard_constraints:
        chunk=r"\d+",
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("attribute_chunk", "threads")
    resources:
        mem_mb=rule_resource("attribute_chunk", "mem_mb"),
        runtime=rule_resource("attribute_chunk", "runtime"),
        gpu=1,
    params:
        cfg=stage_params("attribute"),
    script:
        "../scripts/attribute_chunk.py"


rule compute_attributions:
    """Join the attribution chunks (gather): SHAP values, sequence logos, QC with ISM check."""
    input:
        chunks=expand(
            "results/{{dataset}}/attribution/{{model}}/chunks/{chunk}.npz",
            chunk=range(ATTRIBUTE_CHUNKS),
        ),
        code=script_code("compute_attributions"),
    output:
        shap="results/{dataset}/attribution/{model}/shap.npz",
        logos=report(
            "results/{dataset}/attribution/{model}/logos.png",
            caption="../report/logos.rst",
            category="Attribution",
            subcategory="{model}",
        ),
        qc="results/{dataset}/attribution/{model}/qc.json",
        ohe="results/{dataset}/attribution/{model}/modisco/ohe.npz",
        hypothetical="results/{dataset}/attribution/{model}/modisco/hypothetical.npz",
    log:
        "logs/compute_attributions/{dataset}/{model}.log",
    benchmark:
        "logs/benchmarks/compute_attributions/{dataset}/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("compute_attributions", "threads")
    resources:
        mem_mb=rule_resource("compute_attributions", "mem_mb"),
        runtime=rule_resource("compute_attributions", "runtime"),
    params:
        cfg=stage_params("attribute"),
    script:
        "../scripts/compute_attributions.py"


rule find_motifs:
    """modisco-lite patterns in the hypothetical SHAP contributions, matched to JASPAR by TOMTOM."""
    input:
        shap=rules.compute_attributions.output.shap,
        code=script_code("find_motifs"),
    output:
        modisco="results/{dataset}/attribution/{model}/motifs/modisco.h5",
        matches=report(
            "results/{dataset}/attribution/{model}/motifs/matches.tsv",
            caption="../report/motifs.rst",
            category="Attribution",
            subcategory="{model}",
        ),
        logos=report(
            "results/{dataset}/attribution/{model}/motifs/patterns.png",
            caption="../report/patterns.rst",
            category="Attribution",
            subcategory="{model}",
        ),
        summary="results/{dataset}/attribution/{model}/motifs/summary.json",
    log:
        "logs/find_motifs/{dataset}/{model}.log",
    benchmark:
        "logs/benchmarks/find_motifs/{dataset}/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("find_motifs", "threads")
    resources:
        mem_mb=rule_resource("find_motifs", "mem_mb"),
        runtime=rule_resource("find_motifs", "runtime"),
    params:
        cfg=stage_params("motifs"),
    script:
        "../scripts/find_motifs.py"


rule compare_models:
    """All models of a dataset on the same test windows, with paired differences to the first."""
    input:
        metrics=expand("results/{{dataset}}/eval/{model}/metrics.json", model=MODELS),
        predictions=expand(
            "results/{{dataset}}/eval/{model}/predictions.tsv.gz", model=MODELS
        ),
        code=script_code("compare_models"),
    output:
        table=report(
            "results/{dataset}/eval/models.tsv",
            caption="../report/models.rst",
            category="Evaluation",
            subcategory="all models",
        ),
        plot=report(
            "results/{dataset}/eval/models.png",
            caption="../report/models_plot.rst",
            category="Evaluation",
            subcategory="all models",
        ),
    log:
        "logs/compare_models/{dataset}.log",
    benchmark:
        "logs/benchmarks/compare_models/{dataset}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("compare_models", "threads")
    resources:
        mem_mb=rule_resource("compare_models", "mem_mb"),
        runtime=rule_resource("compare_models", "runtime"),
    params:
        cfg=stage_params(
            "evaluate", keys={"baseline", "bootstrap", "seed"}, models=MODELS
        ),
    script:
        "../scripts/compare_models.py"
