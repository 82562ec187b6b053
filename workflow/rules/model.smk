rule train_model:
    """Train one model with one seed, keeping the epoch with the best validation score.

    The first seed writes to ``models/{model}/``, further seeds (``train.seeds``) to
    ``models/{model}-seed<N>/``. Resumable: ``checkpoint.pt`` beside ``model.pt`` (not an
    output) is written every epoch and removed at the end; TensorBoard event files go to
    ``tensorboard/`` beside it. A dataset with ``finetune`` starts its model from the source's
    ``model.pt`` (an input: a changed source retrains it), checked against the windows the
    source trained on (``peakcnn.training.finetune``).
    """
    input:
        unpack(get_finetune_inputs),
        train=rules.build_dataset.output.train,
        val=rules.build_dataset.output.val,
        code=script_code("train_model"),
    output:
        model="results/{dataset}/models/{model}{seedtag}/model.pt",
        history=report(
            "results/{dataset}/models/{model}{seedtag}/history.tsv",
            caption="../report/history.rst",
            category="Training",
            subcategory="{model}{seedtag}",
        ),
        report="results/{dataset}/models/{model}{seedtag}/train.json",
    log:
        "logs/train_model/{dataset}/{model}{seedtag}.log",
    benchmark:
        "logs/benchmarks/train_model/{dataset}/{model}{seedtag}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("train_model", "threads")
    resources:
        mem_mb=rule_resource("train_model", "mem_mb"),
        runtime=rule_resource("train_model", "runtime"),
        gpu=1,
    params:
        cfg=get_train_params,
    script:
        "../scripts/train_model.py"


rule evaluate_model:
    """Held-out test metrics with CIs (threshold from validation), per region, robustness, plots."""
    input:
        model=rules.train_model.output.model,
        val=rules.build_dataset.output.val,
        test=rules.build_dataset.output.test,
        history=rules.train_model.output.history,
        train_report=rules.train_model.output.report,
        regions=rules.split_windows.output.regions,
        fasta=from_dataset("genome/genome.fa"),
        fai=from_dataset("genome/genome.fa.fai"),
        homology=lambda wildcards: (
            HOMOLOGY_TABLE.format(dataset=wildcards.dataset)
            if config["homology"]["enabled"]
            else []
        ),
        code=script_code("evaluate_model"),
    output:
        metrics="results/{dataset}/eval/{model}{seedtag}/metrics.json",
        table=report(
            "results/{dataset}/eval/{model}{seedtag}/metrics.tsv",
            caption="../report/metrics.rst",
            category="Evaluation",
            subcategory="{model}{seedtag}",
        ),
        predictions="results/{dataset}/eval/{model}{seedtag}/predictions.tsv.gz",
        roc=report(
            "results/{dataset}/eval/{model}{seedtag}/roc.png",
            caption="../report/roc.rst",
            category="Evaluation",
            subcategory="{model}{seedtag}",
        ),
        pr=report(
            "results/{dataset}/eval/{model}{seedtag}/pr.png",
            caption="../report/pr.rst",
            category="Evaluation",
            subcategory="{model}{seedtag}",
        ),
        calibration=report(
            "results/{dataset}/eval/{model}{seedtag}/calibration.png",
            caption="../report/calibration.rst",
            category="Evaluation",
            subcategory="{model}{seedtag}",
        ),
        scores=report(
            "results/{dataset}/eval/{model}{seedtag}/scores.png",
            caption="../report/scores.rst",
            category="Evaluation",
            subcategory="{model}{seedtag}",
        ),
        training=report(
            "results/{dataset}/eval/{model}{seedtag}/training.png",
            caption="../report/training.rst",
            category="Training",
            subcategory="{model}{seedtag}",
        ),
        groups=report(
            "results/{dataset}/eval/{model}{seedtag}/groups.tsv",
            caption="../report/groups.rst",
            category="Evaluation",
            subcategory="{model}{seedtag}",
        ),
        robustness=report(
            "results/{dataset}/eval/{model}{seedtag}/robustness.tsv",
            caption="../report/robustness.rst",
            category="Evaluation",
            subcategory="{model}{seedtag}",
        ),
        robustness_plot=report(
            "results/{dataset}/eval/{model}{seedtag}/robustness.png",
            caption="../report/robustness_plot.rst",
            category="Evaluation",
            subcategory="{model}{seedtag}",
        ),
    log:
        "logs/evaluate_model/{dataset}/{model}{seedtag}.log",
    benchmark:
        "logs/benchmarks/evaluate_model/{dataset}/{model}{seedtag}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("evaluate_model", "threads")
    resources:
        mem_mb=rule_resource("evaluate_model", "mem_mb"),
        runtime=rule_resource("evaluate_model", "runtime"),
    params:
        cfg=stage_params("evaluate", keys=EVALUATE_SETTINGS),
    script:
        "../scripts/evaluate_model.py"


rule select_model:
    """Choose the reported model on validation: each run and each seed ensemble; test after."""
    input:
        metrics=get_run_files("metrics.json"),
        predictions=get_run_files("predictions.tsv.gz"),
        code=script_code("select_model"),
    output:
        best=report(
            "results/{dataset}/eval/best.json",
            caption="../report/best.rst",
            category="Evaluation",
            subcategory="chosen model",
        ),
        table=report(
            "results/{dataset}/eval/candidates.tsv",
            caption="../report/candidates.rst",
            category="Evaluation",
            subcategory="chosen model",
        ),
    log:
        "logs/select_model/{dataset}.log",
    benchmark:
        "logs/benchmarks/select_model/{dataset}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("select_model", "threads")
    resources:
        mem_mb=rule_resource("select_model", "mem_mb"),
        runtime=rule_resource("select_model", "runtime"),
    params:
        cfg=lambda wildcards: stage_params(
            "select",
            runs=model_runs(wildcards.dataset),
            threshold=config["evaluate"]["threshold"],
            bootstrap=config["evaluate"]["bootstrap"],
            seed=config["evaluate"]["seed"],
        ),
    script:
        "../scripts/select_model.py"


rule summarise_folds:
    """k-fold cross-validation: every fold's test metrics per model, and their spread."""
    input:
        metrics=lambda wildcards: [
            f"results/{run}/eval/{model}/metrics.json"
            for run in dataset_runs(wildcards.dataset)
            for model in MODELS
        ],
        code=script_code("summarise_folds"),
    output:
        table=report(
            "results/{dataset}/folds/summary.tsv",
            caption="../report/folds.rst",
            category="Evaluation",
            subcategory="{dataset}",
        ),
        summary="results/{dataset}/folds/summary.json",
    log:
        "logs/summarise_folds/{dataset}.log",
    benchmark:
        "logs/benchmarks/summarise_folds/{dataset}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: rule_resource("summarise_folds", "threads")
    resources:
        mem_mb=rule_resource("summarise_folds", "mem_mb"),
        runtime=rule_resource("summarise_folds", "runtime"),
    params:
        folds=FOLDS,
        models=MODELS,
    script:
        "../scripts/summarise_folds.py"
