# Fold ensembles (split.folds >= 3; docs/apply.md "Fold ensembles"): each model's fold models
# listed as one ensemble, and the predict and variants inputs scored with it (the mean of the
# members' calibrated probabilities). Every window of the dataset trained some member, so no
# ensemble is evaluated or scanned on the dataset's windows: it is for new data.


rule fold_ensemble:
    """List the fold models of one model (with their SHA-256) as an ensemble, for new data."""
    input:
        models=lambda wildcards: [
            f"results/{run}/models/{wildcards.model}/model.pt"
            for run in dataset_runs(wildcards.dataset)
        ],
        code=script_code("fold_ensemble"),
    output:
        ensemble="results/{dataset}/folds/{model}/ensemble.json",
    log:
        "logs/fold_ensemble/{dataset}/{model}.log",
    benchmark:
        "logs/benchmarks/fold_ensemble/{dataset}/{model}.tsv"
    conda:
        "../../envs/torch.yaml"  # peakcnn.apply imports torch
    threads: rule_resource("fold_ensemble", "threads")
    resources:
        mem_mb=rule_resource("fold_ensemble", "mem_mb"),
        runtime=rule_resource("fold_ensemble", "runtime"),
    params:
        folds=FOLDS,
    script:
        "../scripts/fold_ensemble.py"


rule predict_ensemble:
    """Score the records of a FASTA, or the regions of a BED, with a fold ensemble."""
    input:
        ensemble="results/{dataset}/folds/{model}/ensemble.json",
        members=fold_member_files,
        sequences=lambda wildcards: apply_inputs(
            "predict", "inputs", wildcards.dataset
        )[wildcards.name],
        fasta="results/{dataset}/genome/genome.fa",  # for BED inputs
        fai="results/{dataset}/genome/genome.fa.fai",
        code=script_code("predict_ensemble"),
    output:
        scores="results/{dataset}/folds/{model}/predict/{name}.tsv",
    log:
        "logs/predict_ensemble/{dataset}/{model}/{name}.log",
    benchmark:
        "logs/benchmarks/predict_ensemble/{dataset}/{model}/{name}.tsv"
    wildcard_constraints:
        name="[^/]+",
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("predict_ensemble", "threads")
    resources:
        mem_mb=rule_resource("predict_ensemble", "mem_mb"),
        runtime=rule_resource("predict_ensemble", "runtime"),
    params:
        cfg=stage_params("predict"),
    script:
        "../scripts/predict_ensemble.py"


rule score_variants_ensemble:
    """Effect of each variant of a VCF/TSV with a fold ensemble: the mean of the members'."""
    input:
        ensemble="results/{dataset}/folds/{model}/ensemble.json",
        members=fold_member_files,
        variants=lambda wildcards: apply_inputs("variants", "vcfs", wildcards.dataset)[
            wildcards.name
        ],
        fasta="results/{dataset}/genome/genome.fa",
        fai="results/{dataset}/genome/genome.fa.fai",
        code=script_code("score_variants_ensemble"),
    output:
        scores="results/{dataset}/folds/{model}/variants/{name}.tsv",
        skipped="results/{dataset}/folds/{model}/variants/{name}.skipped.tsv",
    log:
        "logs/score_variants_ensemble/{dataset}/{model}/{name}.log",
    benchmark:
        "logs/benchmarks/score_variants_ensemble/{dataset}/{model}/{name}.tsv"
    wildcard_constraints:
        name=r"[^/]+(?<!\.skipped)",
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("score_variants_ensemble", "threads")
    resources:
        mem_mb=rule_resource("score_variants_ensemble", "mem_mb"),
        runtime=rule_resource("score_variants_ensemble", "runtime"),
    params:
        cfg=stage_params("variants"),
    script:
        "../scripts/score_variants_ensemble.py"
