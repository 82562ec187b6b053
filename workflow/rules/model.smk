rule train_model:
    """Train one model on the train split, keeping the epoch with the best validation AUROC."""
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
        cfg=stage_params("train"),
    script:
        "../scripts/train_model.py"


rule evaluate_model:
    """Held-out test metrics; threshold chosen on validation; ROC/PR plots; predictions."""
    input:
        model=rules.train_model.output.model,
        val=rules.build_dataset.output.val,
        test=rules.build_dataset.output.test,
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
    log:
        "logs/evaluate_model/{dataset}/{model}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 2
    params:
        cfg=stage_params("evaluate"),
    script:
        "../scripts/evaluate_model.py"
