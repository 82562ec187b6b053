# Smaller, faster models (peakcnn.compress; docs/compress.md): int8, pruned and distilled
# copies of the trained models in `compress.models`, benchmarked against the original on the
# test split. Config section compress; outputs under results/<run>/compress/<model>/.


include: "compress_common.smk"


rule compress_model:
    """int8, pruned and distilled copies of a model, benchmarked against it on the test split."""
    input:
        model="results/{dataset}/models/{model}/model.pt",
        teachers=get_teacher_models,
        train="results/{dataset}/dataset/train.npz",
        val="results/{dataset}/dataset/val.npz",
        test="results/{dataset}/dataset/test.npz",
        code=script_code("compress_model"),
    output:
        **compress_outputs(),
        table=report(
            "results/{dataset}/compress/{model}/compress.tsv",
            caption="../report/compress.rst",
            category="Compression",
            subcategory="{model}",
        ),
        plot=report(
            "results/{dataset}/compress/{model}/compress.png",
            caption="../report/compress.rst",
            category="Compression",
            subcategory="{model}",
        ),
        report="results/{dataset}/compress/{model}/compress.json",
    log:
        "logs/compress_model/{dataset}/{model}.log",
    benchmark:
        "logs/benchmarks/compress_model/{dataset}/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("compress_model", "threads")
    resources:
        mem_mb=rule_resource("compress_model", "mem_mb"),
        runtime=rule_resource("compress_model", "runtime"),
    params:
        cfg=stage_params("compress", COMPRESS_SETTINGS),
    script:
        "../scripts/compress_model.py"
