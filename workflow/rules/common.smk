import json
import re
import runpy
from pathlib import Path
from urllib.parse import unquote, urlparse

from peakcnn.models.catalog import (
    DETERMINISTIC_MODELS,
    NO_SHAP_MODELS,
    architecture_of,
)
from peakcnn.sources import code_of

DATASETS = list(config["datasets"])
# k-fold cross-validation (split.folds >= 3): from the split stage on, every fold of a dataset
# is a run of its own, results/<dataset>/fold<i>/; the {dataset} wildcard then reads
# "<dataset>/fold<i>". Without folds a dataset is its own single run.
FOLDS = int(config["split"].get("folds", 0))


def dataset_runs(dataset):
    """The runs of a dataset from the split stage on: itself, or ``<dataset>/fold<i>``."""
    return [dataset] if FOLDS < 3 else [f"{dataset}/fold{i}" for i in range(FOLDS)]


RUNS = [run for dataset in DATASETS for run in dataset_runs(dataset)]


def base_dataset(run):
    """The dataset a run belongs to (``name`` of ``name/fold<i>``)."""
    return run.split("/")[0]


def fold_index(run):
    """The fold of a run, None without folds."""
    fold = run.partition("/")[2]  # fold<i>, or empty without folds
    return int(fold.removeprefix("fold")) if fold else None


def from_dataset(path):
    """Input function: a file made once per dataset (genome, windows) for one run of it."""
    return lambda wildcards: f"results/{base_dataset(wildcards.dataset)}/{path}"


def get_split_params(wildcards):
    """The split section (plus the window length, and the fold of a fold run) as JSON."""
    fold = fold_index(wildcards.dataset)
    extra = {"fold": fold} if fold is not None else {}
    return stage_params("split", window_length=config["windows"]["length"], **extra)


MODELS = list(config["models"])
SPLITS = ["train", "val", "test"]
# This checkout (the rules' grandparent folder): the library beside it, also when the workflow
# is used as a module of another workflow (whose own folder is workflow.basedir).
PEAKCNN_DIR = Path(workflow.current_basedir.get_path_or_uri(secret_free=True)).parents[
    1
]
LIBRARY = PEAKCNN_DIR / "src" / "peakcnn"


def stage_params(section, keys=None, **extra):
    """One key-sorted JSON string of a config section (None: none) plus derived values.

    ``keys``: only these keys of the section (those the rule's code reads), so that editing
    another one reruns nothing. Snakemake compares params as an unordered set of values, so
    separate params could swap unnoticed; one canonical string cannot.
    """
    values = config.get(section, {})
    if keys is not None:
        values = {key: value for key, value in values.items() if key in keys}
    return json.dumps({**values, **extra}, sort_keys=True)


def get_source_params(kind):
    """Input function: the dataset's `genome` or `peaks` source entry as canonical JSON."""
    return lambda wildcards: json.dumps(
        config["datasets"][wildcards.dataset][kind], sort_keys=True
    )


def local_file(entry):
    """The local file of a source entry (a path or ``file://`` URI); None for a download."""
    source = entry["source"]
    parsed = urlparse(source)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return None if parsed.scheme in {"http", "https", "ftp"} else source


def source_input(entry):
    """Rule input of a source: its local file, so that a changed file reruns the fetch.

    A download is no input: it reruns when its URL or sha256 in the config changes, or with
    ``--forcerun fetch_genome fetch_peaks`` (docs/reruns.md).
    """
    path = local_file(entry)
    return [path] if path else []


def source_name(entry):
    """How errors name a source: its local path, or its URL."""
    return local_file(entry) or entry["source"]


def get_user_files(wildcards):
    """Params: fetched copy -> the user's genome or peak file, so that errors name the latter.

    Fetching decompresses a file without changing its lines, so a line number holds for both.
    """
    dataset = config["datasets"][wildcards.dataset]
    files = {
        f"results/{wildcards.dataset}/genome/genome.fa": source_name(dataset["genome"])
    }
    for task, entry in dataset_tasks(wildcards.dataset).items():
        files[f"results/{wildcards.dataset}/peaks/{task}.bed"] = source_name(entry)
    return json.dumps(files, sort_keys=True)


# Rule resources (threads, mem_mb, runtime in minutes) come from the config's `resources`
# section (config/config.yaml): one entry per rule over `default`. Never rerun triggers.
# Without any (a module given a config of its own without them): one thread, 2 GB, 30 min.
UNSET_RESOURCES = {"threads": 1, "mem_mb": 2000, "runtime": 30}


def rule_resource(rule, key):
    """One resource of a rule: ``resources.<rule>.<key>``, else ``resources.default.<key>``."""
    section = config.get("resources", {})
    default = section.get("default", {}).get(key, UNSET_RESOURCES[key])
    return section.get(rule, {}).get(key, default)


def dataset_tasks(dataset):
    """Task name -> peak source of a dataset: its peak sets, or one task named after it."""
    peaks = config["datasets"][dataset]["peaks"]
    return {dataset: peaks} if isinstance(peaks.get("source"), str) else dict(peaks)


def get_task_source(wildcards):
    """Params function: one task's peak source entry as canonical JSON."""
    return json.dumps(dataset_tasks(wildcards.dataset)[wildcards.task], sort_keys=True)


def get_task_input(wildcards):
    """Input function: one task's local peak file (none for a download)."""
    return source_input(dataset_tasks(wildcards.dataset)[wildcards.task])


def get_task_peaks(wildcards):
    """Input function: the fetched peak file of every task of a dataset, in task order."""
    return [
        f"results/{wildcards.dataset}/peaks/{task}.bed"
        for task in dataset_tasks(wildcards.dataset)
    ]


def get_windows_file(key):
    """An optional file of the windows section (alias file, blacklist) as a rule input."""
    path = config["windows"].get(key)
    return [path] if path else []


def script_code(script):
    """Library source files a rule's script runs: its peakcnn imports, followed through imports.

    Listed as rule inputs so that editing a module reruns exactly the stages that use it
    (``peakcnn.sources`` reads the imports statically; nothing is imported here).
    """
    files = code_of(PEAKCNN_DIR / "workflow" / "scripts" / f"{script}.py", LIBRARY)
    return [relative_to_workdir(path) for path in files]


def relative_to_workdir(path):
    """A path below the working directory as a relative one (a moved project keeps its inputs);
    others (the workflow used as a module from elsewhere) stay absolute.
    """
    path, workdir = Path(path), Path.cwd()
    return str(path.relative_to(workdir) if path.is_relative_to(workdir) else path)


def get_architecture(model):
    """The hyperparameters of one model from ``train.architecture``, for its training params.

    ``train.architecture`` is keyed by model name; a flat dict (no dict values, the seed's
    form) holds basset's. So editing one model's hyperparameters reruns only that model.
    """
    return architecture_of(
        model, config["train"].get("architecture"), flat_for="basset"
    )


# DETERMINISTIC_MODELS (trained once, whatever ``train.seeds``) and NO_SHAP_MODELS (no
# attribution target) come from peakcnn.models.catalog: the library's own table of model facts.


def model_seeds(model):
    """Seeds one model is trained with: ``train.seed`` and the next ``train.seeds - 1``."""
    first = int(config["train"].get("seed", 0))
    count = 1 if model in DETERMINISTIC_MODELS else int(config["train"].get("seeds", 1))
    return [first + i for i in range(count)]


def seed_tag(model, seed):
    """Run-folder suffix: none for the first seed (the single-seed paths), else ``-seed<N>``."""
    return "" if seed == model_seeds(model)[0] else f"-seed{seed}"


def model_runs(dataset=None):
    """Every (model, seed, run folder name) of the config, models in config order.

    With a ``dataset`` (or a fold run of one) whose ``finetune`` entry sets
    ``scratch_candidate``, the fine-tuned model's runs are followed by the same model's runs
    from scratch, ``<model>-scratch[-seed<N>]``: another candidate of ``select_model``.
    """
    runs = []
    for model in MODELS:
        tags = [""]
        entry = finetune_entry(dataset, model) if dataset else None
        if entry is not None and entry.get("scratch_candidate", False):
            tags.append(SCRATCH_TAG)
        for tag in tags:
            runs += [
                (model, seed, f"{model}{tag}{seed_tag(model, seed)}")
                for seed in model_seeds(model)
            ]
    return runs


def run_seed(wildcards):
    """The seed of a run: from its ``seedtag`` (``[-scratch][-seed<N>]``), else ``train.seed``."""
    seed = wildcards.seedtag.removeprefix(SCRATCH_TAG).removeprefix("-seed")
    return int(seed) if seed else None


def is_finetuned(wildcards):
    """The ``finetune`` entry a run starts from; None for a run trained from scratch."""
    if wildcards.seedtag.startswith(SCRATCH_TAG):
        return None
    return finetune_entry(wildcards.dataset, wildcards.model)


# The `evaluate` settings evaluate_model reads: all but `baseline` (compare_models' alone).
EVALUATE_SETTINGS = set(config["evaluate"]) - {"baseline"}


# The `train` settings a model's training reads (peakcnn.training.train.train_model; for
# kmer_baseline peakcnn.training.kmer_fit.fit_kmer): its job gets only these, so that editing
# another one leaves it alone. Models not listed read every setting.
TRAIN_SETTINGS_READ = {
    "kmer_baseline": {
        "architecture",
        "pos_weight",
        "rc_average",
        "max_shift",
        "seed",
        "device",
        "calibration",
        "subsample",
        "subsample_seed",
    },
}


def get_train_params(wildcards):
    """Training params of one run: the ``train`` settings its model reads, the run's seed.

    ``seeds`` is left out and the first seed's params are those of a single-seed config, so
    adding seeds trains the new runs only.
    """
    read = TRAIN_SETTINGS_READ.get(wildcards.model)
    train = {
        k: v
        for k, v in config["train"].items()
        if k != "seeds" and (read is None or k in read)
    }
    if train.get("subsample") is None:  # off: params as before the setting existed
        train.pop("subsample", None)
        train.pop("subsample_seed", None)
    if run_seed(wildcards) is not None:
        train["seed"] = run_seed(wildcards)
    train["architecture"] = get_architecture(wildcards.model)
    entry = is_finetuned(wildcards)
    if entry is not None:  # only then: runs from scratch keep their params
        train["finetune"] = {
            key: entry[key] for key in FINETUNE_SETTINGS if key in entry
        }
    return json.dumps(train, sort_keys=True)


# --- fine-tuning (datasets.<name>.finetune; peakcnn.training.finetune) ----------------------
# The Finetune settings a fine-tuned run's training gets in its params; the files in its inputs.
FINETUNE_SETTINGS = ("freeze", "freeze_epochs", "body_lr_factor", "allow_overlap")
# Run-folder tag of a fine-tuned model's runs from scratch (``finetune.scratch_candidate``).
SCRATCH_TAG = "-scratch"


def finetune_entry(run, model):
    """The ``finetune`` entry of a run's dataset when it starts ``model``, else None."""
    entry = config["datasets"][base_dataset(run)].get("finetune")
    return entry if entry and entry.get("model", "basset") == model else None


def check_finetune_entries():
    """Stop on a ``finetune`` entry naming no other dataset or a model that is not trained."""
    for name, dataset in config["datasets"].items():
        entry = dataset.get("finetune") or {}
        where = f"datasets.{name}.finetune"
        if entry.get("dataset") in (name, None) and "path" not in entry and entry:
            raise ValueError(
                f"{where}: dataset must name another dataset of the config"
            )
        if "dataset" in entry and entry["dataset"] not in config["datasets"]:
            raise ValueError(
                f"{where}: dataset {entry['dataset']!r} is not one of {DATASETS}; add it"
            )
        if entry and entry.get("model", "basset") not in MODELS:
            raise ValueError(
                f"{where}: model {entry['model']!r} is not one of models {MODELS}"
            )


check_finetune_entries()


def get_finetune_inputs(wildcards):
    """Input function (unpacked): a fine-tuned run's source ``model.pt``, the source's
    training split (leak check, when the source is a dataset of this workflow; the same fold)
    and the run's own test split; none for a run trained from scratch.
    """
    entry = is_finetuned(wildcards)
    if entry is None:
        return {}
    inputs = {"test": f"results/{wildcards.dataset}/dataset/test.npz"}
    if "path" in entry:
        return {**inputs, "source_model": entry["path"]}
    fold = wildcards.dataset.partition("/")[2]
    source = f"{entry['dataset']}/{fold}" if fold else entry["dataset"]
    return {
        **inputs,
        "source_model": f"results/{source}/models/{wildcards.model}/model.pt",
        "source_train": f"results/{source}/dataset/train.npz",
    }


def get_run_files(name):
    """Input function: one evaluation file (``metrics.json``, ...) of every run of a dataset."""
    return lambda wildcards: [
        f"results/{wildcards.dataset}/eval/{run}/{name}"
        for _, _, run in model_runs(wildcards.dataset)
    ]


def get_final_outputs():
    """Final targets: per run split report, model comparison and choice; per model metrics,
    SHAP and motifs; with k-fold splits, each fold's evaluation and the fold summary instead
    of attributions (request a fold's ``attribution/...`` files to explain it).

    Attributions are requested only for models that SHAP can explain (not ``NO_SHAP_MODELS``).
    """
    outputs = []
    for dataset in DATASETS:
        if FOLDS >= 3:
            outputs.append(f"results/{dataset}/folds/summary.tsv")
            outputs += fold_ensemble_outputs(dataset)  # workflow/rules/ensemble.smk
        for run in dataset_runs(dataset):
            outputs.append(f"results/{run}/dataset/split.json")
            outputs.append(f"results/{run}/eval/models.tsv")
            outputs.append(f"results/{run}/eval/best.json")
            for model in MODELS:
                outputs.append(f"results/{run}/eval/{model}/metrics.json")
                if model not in NO_SHAP_MODELS and FOLDS < 3:
                    attribution = f"results/{run}/attribution/{model}"
                    outputs.append(f"{attribution}/shap.npz")
                    outputs.append(f"{attribution}/motifs/matches.tsv")
            outputs += apply_outputs(run)  # workflow/rules/apply.smk
            outputs += compress_targets(run)  # workflow/rules/compress.smk
    return outputs


# --- preflight (peakcnn.preflight) -----------------------------------------------------------
# Stop before any job runs when a program the jobs call (bedtools) is missing, with one line
# naming it and how to install it. With --use-conda the environments bring the programs.
if not any(m.name == "CONDA" for m in workflow.deployment_settings.deployment_method):
    _preflight = runpy.run_path(str(LIBRARY / "preflight.py"))
    _programs = dict(_preflight["REQUIRED_PROGRAMS"])
    if not config["homology"]["enabled"]:
        _programs.pop("minimap2")
    _preflight["check_programs"](_programs)
