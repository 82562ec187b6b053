rule compute_attributions:
    """SHAP (DeepExplainer) on top test positives against dinucleotide-shuffled references."""
    input:
        model=rules.train_model.output.model,
        test=rules.build_dataset.output.test,
        code=library_sources("attribute"),
    output:
        shap="results/{dataset}/attribution/{model}/shap.npz",
        logos=report(
            "results/{dataset}/attribution/{model}/logos.png",
            caption="../report/logos.rst",
            category="Attribution",
            subcategory="{model}",
        ),
        qc="results/{dataset}/attribution/{model}/qc.json",
    log:
        "logs/compute_attributions/{dataset}/{model}.log",
    benchmark:
        "benchmarks/compute_attributions/{dataset}/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 8
    resources:
        gpu=1,
    params:
        cfg=stage_params("attribute"),
    script:
        "../scripts/compute_attributions.py"
