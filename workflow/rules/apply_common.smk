# Functions of the apply rules (workflow/rules/apply.smk): models, inputs and final outputs
# of the config sections predict, scan, variants and export.

# Suffixes taken off an input file's name to name its outputs.
INPUT_SUFFIXES = (".gz", ".bgz", ".vcf", ".tsv", ".txt", ".bed", ".narrowPeak")
INPUT_SUFFIXES += (".fa", ".fasta", ".fna")


def apply_model(section):
    """The model a section applies: its ``model``, or the first of ``models``."""
    model = config.get(section, {}).get("model") or MODELS[0]
    if model not in MODELS:
        raise ValueError(
            f"{section}.model {model!r} must be one of the models {MODELS}"
        )
    return model


def input_stem(path):
    """Output name of an input file: its name without the known suffixes."""
    name = Path(path).name
    while name.endswith(INPUT_SUFFIXES):
        name = name[: name.rindex(".")]
    return name


def apply_inputs(section, key, dataset):
    """Output name -> path of a section's input files for one dataset (list or by dataset)."""
    files = config.get(section, {}).get(key) or []
    if isinstance(files, dict):
        files = files.get(dataset, [])
    named = {}
    for path in files:
        stem = input_stem(path)
        if stem in named:
            raise ValueError(
                f"{section}.{key}: {named[stem]} and {path} both write {stem}.*"
            )
        named[stem] = path
    return named


def scan_name():
    """Output prefix of the scan: the split scanned, the BED's stem, or ``genome``."""
    regions = config.get("scan", {}).get("regions", "test")
    if regions in SPLITS or regions is None:
        return regions or "genome"
    return input_stem(regions)


def get_scan_regions(wildcards):
    """Input function: the BED of regions to scan (a split's regions.bed), or none."""
    regions = config.get("scan", {}).get("regions", "test")
    if regions is None:
        return []
    if regions in SPLITS:
        return f"results/{wildcards.dataset}/split/regions.bed"
    return regions


def get_apply_input(section, key):
    """Input function: the input file behind one ``{name}`` output of a section."""
    return lambda wildcards: apply_inputs(
        section, key, base_dataset(wildcards.dataset)
    )[wildcards.name]


MODEL_FILES = {
    "model": "results/{dataset}/models/{model}/model.pt",
    "metrics": "results/{dataset}/eval/{model}/metrics.json",
    "val": "results/{dataset}/dataset/val.npz",
}


def apply_outputs(run):
    """Final targets of the apply sections for one run (``get_final_outputs`` adds them)."""
    dataset = base_dataset(run)
    outputs = []
    for stem in apply_inputs("predict", "inputs", dataset):
        outputs.append(
            f"results/{run}/apply/{apply_model('predict')}/predict/{stem}.tsv"
        )
    if config.get("scan", {}).get("enabled", True):
        outputs.append(f"results/{run}/apply/{apply_model('scan')}/scan.tsv")
    for stem in apply_inputs("variants", "vcfs", dataset):
        outputs.append(
            f"results/{run}/apply/{apply_model('variants')}/variants/{stem}.tsv"
        )
    if config.get("export", {}).get("enabled", True):
        model = apply_model("export")
        outputs.append(f"results/{run}/apply/{model}/export/{model}.export.json")
    return outputs


# Fold ensembles (workflow/rules/ensemble.smk).
def fold_member_files(wildcards):
    """Input function: per fold, the model's model.pt, metrics.json and val.npz (its tasks)."""
    return [
        path
        for run in dataset_runs(wildcards.dataset)
        for path in (
            f"results/{run}/models/{wildcards.model}/model.pt",
            f"results/{run}/eval/{wildcards.model}/metrics.json",
            f"results/{run}/dataset/val.npz",
        )
    ]


def fold_ensemble_outputs(dataset):
    """Final targets with k-fold splits: each model's ensemble.json, the apply inputs scored."""
    folder = f"results/{dataset}/folds"
    outputs = [f"{folder}/{model}/ensemble.json" for model in MODELS]
    for stem in apply_inputs("predict", "inputs", dataset):
        outputs.append(f"{folder}/{apply_model('predict')}/predict/{stem}.tsv")
    for stem in apply_inputs("variants", "vcfs", dataset):
        outputs.append(f"{folder}/{apply_model('variants')}/variants/{stem}.tsv")
    return outputs
