rule fetch_genome:
    """Download (or copy) the genome FASTA, verify its checksum, decompress and index it.

    A local rule: downloads run where snakemake runs (compute nodes often have no internet).
    """
    input:
        source=lambda wildcards: source_input(
            config["datasets"][wildcards.dataset]["genome"]
        ),
    output:
        fasta="results/{dataset}/genome/genome.fa",
        fai="results/{dataset}/genome/genome.fa.fai",
    log:
        "logs/fetch_genome/{dataset}.log",
    benchmark:
        "logs/benchmarks/fetch_genome/{dataset}.tsv"
    localrule: True
    conda:
        "../../envs/data.yaml"
    threads: rule_resource("fetch_genome", "threads")
    resources:
        mem_mb=rule_resource("fetch_genome", "mem_mb"),
        runtime=rule_resource("fetch_genome", "runtime"),
    params:
        cfg=get_source_params("genome"),
    script:
        "../scripts/fetch_genome.py"


rule fetch_peaks:
    """Download (or copy) one task's peak BED/narrowPeak file, verify its checksum, decompress it.

    A local rule: downloads run where snakemake runs (compute nodes often have no internet).
    """
    input:
        source=get_task_input,
    output:
        bed="results/{dataset}/peaks/{task}.bed",
    log:
        "logs/fetch_peaks/{dataset}/{task}.log",
    benchmark:
        "logs/benchmarks/fetch_peaks/{dataset}/{task}.tsv"
    localrule: True
    conda:
        "../../envs/data.yaml"
    threads: rule_resource("fetch_peaks", "threads")
    resources:
        mem_mb=rule_resource("fetch_peaks", "mem_mb"),
        runtime=rule_resource("fetch_peaks", "runtime"),
    params:
        cfg=get_task_source,
    script:
        "../scripts/fetch_peaks.py"


rule make_windows:
    """Fixed-length windows on the summits of all peak sets, labelled per task; ends padded."""
    input:
        peaks=get_task_peaks,
        fasta=rules.fetch_genome.output.fasta,
        fai=rules.fetch_genome.output.fai,
        aliases=get_windows_file("chrom_alias_file"),
        blacklist=get_windows_file("blacklist"),
        code=script_code("make_windows"),
    output:
        positives="results/{dataset}/windows/positives.bed",
        all_peaks="results/{dataset}/windows/peaks.bed",
        summary=report(
            "results/{dataset}/windows/summary.json",
            caption="../report/windows.rst",
            category="Data",
            subcategory="{dataset}",
        ),
    log:
        "logs/make_windows/{dataset}.log",
    benchmark:
        "logs/benchmarks/make_windows/{dataset}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: rule_resource("make_windows", "threads")
    resources:
        mem_mb=rule_resource("make_windows", "mem_mb"),
        runtime=rule_resource("make_windows", "runtime"),
    params:
        tasks=lambda wildcards: list(dataset_tasks(wildcards.dataset)),
        user_files=get_user_files,
        cfg=stage_params("windows"),
    script:
        "../scripts/make_windows.py"


rule split_windows:
    """Split regions (chromosomes or position blocks with gaps); positives assigned by centre."""
    input:
        positives=from_dataset("windows/positives.bed"),
        fasta=from_dataset("genome/genome.fa"),
        fai=from_dataset("genome/genome.fa.fai"),
        code=script_code("split_windows"),
    output:
        regions="results/{dataset}/split/regions.bed",
        assigned="results/{dataset}/split/positives.bed",
        summary="results/{dataset}/split/summary.json",
    log:
        "logs/split_windows/{dataset}.log",
    benchmark:
        "logs/benchmarks/split_windows/{dataset}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: rule_resource("split_windows", "threads")
    resources:
        mem_mb=rule_resource("split_windows", "mem_mb"),
        runtime=rule_resource("split_windows", "runtime"),
    params:
        cfg=get_split_params,
    script:
        "../scripts/split_windows.py"


rule sample_negatives:
    """Background windows clear of all peaks, GC-matched to each split's positives."""
    input:
        positives=from_dataset("windows/positives.bed"),
        assigned=rules.split_windows.output.assigned,
        peaks=from_dataset("windows/peaks.bed"),
        regions=rules.split_windows.output.regions,
        fasta=from_dataset("genome/genome.fa"),
        fai=from_dataset("genome/genome.fa.fai"),
        blacklist=get_windows_file("blacklist"),
        code=script_code("sample_negatives"),
    output:
        negatives="results/{dataset}/negatives/negatives.bed",
        report="results/{dataset}/negatives/negatives.json",
        plot=report(
            "results/{dataset}/negatives/gc.png",
            caption="../report/negatives.rst",
            category="Data",
            subcategory="{dataset}",
        ),
    log:
        "logs/sample_negatives/{dataset}.log",
    benchmark:
        "logs/benchmarks/sample_negatives/{dataset}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: rule_resource("sample_negatives", "threads")
    resources:
        mem_mb=rule_resource("sample_negatives", "mem_mb"),
        runtime=rule_resource("sample_negatives", "runtime"),
    params:
        cfg=stage_params(
            "negatives",
            window_length=config["windows"]["length"],
            blacklist=config["windows"]["blacklist"],
        ),
    script:
        "../scripts/sample_negatives.py"


rule build_dataset:
    """Label, leak-check and one-hot encode all windows; one npz per split plus split.json."""
    input:
        assigned=rules.split_windows.output.assigned,
        negatives=rules.sample_negatives.output.negatives,
        summary=rules.split_windows.output.summary,
        fasta=from_dataset("genome/genome.fa"),
        fai=from_dataset("genome/genome.fa.fai"),
        code=script_code("build_dataset"),
    output:
        train="results/{dataset}/dataset/train.npz",
        val="results/{dataset}/dataset/val.npz",
        test="results/{dataset}/dataset/test.npz",
        report=report(
            "results/{dataset}/dataset/split.json",
            caption="../report/split.rst",
            category="Data",
            subcategory="{dataset}",
        ),
    log:
        "logs/build_dataset/{dataset}.log",
    benchmark:
        "logs/benchmarks/build_dataset/{dataset}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: rule_resource("build_dataset", "threads")
    resources:
        mem_mb=rule_resource("build_dataset", "mem_mb"),
        runtime=rule_resource("build_dataset", "runtime"),
    params:
        tasks=lambda wildcards: list(dataset_tasks(base_dataset(wildcards.dataset))),
        cfg=stage_params(
            None,
            window_length=config["windows"]["length"],
            seed=config["negatives"]["seed"],
            max_shift=config["train"]["max_shift"],
        ),
    script:
        "../scripts/build_dataset.py"
