rule train_model:
    """Train one model on the train split, keeping the epoch with the best validation score.

    Resumable: ``checkpoint.pt`` beside ``model.pt`` (not an output) is written every epoch and
    removed at the end; TensorBoard event files go to ``tensorboard/`` beside it.
    """
    input:
        train=rules.build_dataset.output.train,
        val=rules.build_dataset.output.val,
        code=library_sources("train"),
    output:
        model="results/{dataset}/models/{model}/model.pt",
        history=report(
            "results/{dataset}/models/{model}/history.tsv",
            caption="../report/history.rst",
            category="Training",
            subcategory="{model}",
        ),
        report="results/{dataset}/models/{model}/train.json",
    log:
        "logs/train_model/{dataset}/{model}.log",
    benchmark:
        "benchmarks/train_model/{dataset}/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 8
    resources:
        gpu=1,
    params:
        cfg=lambda wildcards: stage_params(
            "train", architecture=get_architecture(wildcards.model)
        ),
    script:
        "../scripts/train_model.py"


rule evaluate_model:
    """Held-out test metrics with CIs (threshold from validation), per region, robustness, plots."""
    input:
        model=rules.train_model.output.model,
        val=rules.build_dataset.output.val,
        test=rules.build_dataset.output.test,
        history=rules.train_model.output.history,
        regions=rules.split_windows.output.regions,
        fasta=rules.fetch_genome.output.fasta,
        fai=rules.fetch_genome.output.fai,
        code=library_sources("evaluate"),
    output:
        metrics="results/{dataset}/eval/{model}/metrics.json",
        table=report(
            "results/{dataset}/eval/{model}/metrics.tsv",
            caption="../report/metrics.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        predictions="results/{dataset}/eval/{model}/predictions.tsv.gz",
        roc=report(
            "results/{dataset}/eval/{model}/roc.png",
            caption="../report/roc.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        pr=report(
            "results/{dataset}/eval/{model}/pr.png",
            caption="../report/pr.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        calibration=report(
            "results/{dataset}/eval/{model}/calibration.png",
            caption="../report/calibration.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        scores=report(
            "results/{dataset}/eval/{model}/scores.png",
            caption="../report/scores.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        training=report(
            "results/{dataset}/eval/{model}/training.png",
            caption="../report/training.rst",
            category="Training",
            subcategory="{model}",
        ),
        groups=report(
            "results/{dataset}/eval/{model}/groups.tsv",
            caption="../report/groups.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        robustness=report(
            "results/{dataset}/eval/{model}/robustness.tsv",
            caption="../report/robustness.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        robustness_plot=report(
            "results/{dataset}/eval/{model}/robustness.png",
            caption="../report/robustness_plot.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
    log:
        "logs/evaluate_model/{dataset}/{model}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 2
    params:
        cfg=stage_params("evaluate"),
    script:
        "../scripts/evaluate_model.py"
