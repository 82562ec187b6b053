# Applying the trained model (peakcnn.apply; docs/apply.md): predict on FASTA/BED inputs, scan
# a split's regions or the genome, score variant files, export TorchScript + ONNX. Config
# sections predict, scan, variants and export; outputs under results/<run>/apply/<model>/.


include: "apply_common.smk"
include: "ensemble.smk"


rule predict_sequences:
    """Score the records of a FASTA, or the regions of a BED on the dataset's genome."""
    input:
        **MODEL_FILES,
        sequences=get_apply_input("predict", "inputs"),
        fasta=from_dataset("genome/genome.fa"),  # for BED inputs
        fai=from_dataset("genome/genome.fa.fai"),
        code=script_code("predict_sequences"),
    output:
        scores=report(
            "results/{dataset}/apply/{model}/predict/{name}.tsv",
            caption="../report/apply_predict.rst",
            category="Apply",
            subcategory="{model}",
        ),
    log:
        "logs/predict_sequences/{dataset}/{model}/{name}.log",
    benchmark:
        "logs/benchmarks/predict_sequences/{dataset}/{model}/{name}.tsv"
    wildcard_constraints:
        name="[^/]+",
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("predict_sequences", "threads")
    resources:
        mem_mb=rule_resource("predict_sequences", "mem_mb"),
        runtime=rule_resource("predict_sequences", "runtime"),
    params:
        cfg=stage_params("predict"),
    script:
        "../scripts/predict_sequences.py"


rule scan_genome:
    """Tile a split's regions (or the genome) with the model: bigWig/bedGraph, called regions."""
    input:
        **MODEL_FILES,
        fasta=from_dataset("genome/genome.fa"),
        fai=from_dataset("genome/genome.fa.fai"),
        regions=get_scan_regions,
        code=script_code("scan_genome"),
    output:
        tracks=directory("results/{dataset}/apply/{model}/scan"),
        summary=report(
            "results/{dataset}/apply/{model}/scan.tsv",
            caption="../report/apply_scan.rst",
            category="Apply",
            subcategory="{model}",
        ),
    log:
        "logs/scan_genome/{dataset}/{model}.log",
    benchmark:
        "logs/benchmarks/scan_genome/{dataset}/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("scan_genome", "threads")
    resources:
        mem_mb=rule_resource("scan_genome", "mem_mb"),
        runtime=rule_resource("scan_genome", "runtime"),
    params:
        cfg=stage_params("scan", name=scan_name()),
    script:
        "../scripts/scan_genome.py"


rule score_variants:
    """Effect of each variant of a VCF/TSV: alt vs ref logits, both strands averaged."""
    input:
        **MODEL_FILES,
        variants=get_apply_input("variants", "vcfs"),
        fasta=from_dataset("genome/genome.fa"),
        fai=from_dataset("genome/genome.fa.fai"),
        code=script_code("score_variants"),
    output:
        scores=report(
            "results/{dataset}/apply/{model}/variants/{name}.tsv",
            caption="../report/apply_variants.rst",
            category="Apply",
            subcategory="{model}",
        ),
        skipped="results/{dataset}/apply/{model}/variants/{name}.skipped.tsv",
    log:
        "logs/score_variants/{dataset}/{model}/{name}.log",
    benchmark:
        "logs/benchmarks/score_variants/{dataset}/{model}/{name}.tsv"
    wildcard_constraints:
        name=r"[^/]+(?<!\.skipped)",
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("score_variants", "threads")
    resources:
        mem_mb=rule_resource("score_variants", "mem_mb"),
        runtime=rule_resource("score_variants", "runtime"),
    params:
        cfg=stage_params("variants"),
    script:
        "../scripts/score_variants.py"


rule export_model:
    """TorchScript and ONNX copies of the model with its metadata, checked against PyTorch."""
    input:
        **MODEL_FILES,
        train="results/{dataset}/dataset/train.npz",  # hashed into the metadata
        code=script_code("export_model"),
    output:
        torchscript="results/{dataset}/apply/{model}/export/{model}.ts",
        onnx="results/{dataset}/apply/{model}/export/{model}.onnx",
        report=report(
            "results/{dataset}/apply/{model}/export/{model}.export.json",
            caption="../report/apply_export.rst",
            category="Apply",
            subcategory="{model}",
        ),
    log:
        "logs/export_model/{dataset}/{model}.log",
    benchmark:
        "logs/benchmarks/export_model/{dataset}/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_resource("export_model", "threads")
    resources:
        mem_mb=rule_resource("export_model", "mem_mb"),
        runtime=rule_resource("export_model", "runtime"),
    script:
        "../scripts/export_model.py"
