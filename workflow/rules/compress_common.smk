# Functions of workflow/rules/compress.smk: outputs, teachers and final targets of the config
# section compress.

COMPRESS = config["compress"]
# The settings a compress job reads: all but `models`, which adds or removes jobs.
COMPRESS_SETTINGS = set(COMPRESS) - {"models"}


def compress_outputs():
    """Named outputs of ``compress_model`` for the asked methods and sparsities."""
    folder = "results/{dataset}/compress/{model}"
    outputs = {}
    if "quantize" in COMPRESS["methods"]:
        outputs["int8"] = f"{folder}/int8/model.ts"
    if "prune" in COMPRESS["methods"]:
        for index, sparsity in enumerate(COMPRESS["sparsity"]):
            outputs[f"pruned{index}"] = f"{folder}/pruned-{sparsity:g}/model.pt"
    if "distil" in COMPRESS["methods"]:
        outputs["distilled"] = f"{folder}/distilled/model.pt"
    return outputs


def get_teacher_models(wildcards):
    """Input function: the ``model.pt`` of each more teacher (``compress.teachers``)."""
    teachers = []
    for teacher in COMPRESS["teachers"]:
        if teacher == "seeds":
            teachers += [
                run for model, _, run in model_runs() if model == wildcards.model
            ]
            teachers.remove(wildcards.model)  # the model itself is the first teacher
        elif teacher != wildcards.model:
            teachers += [teacher]
    return [f"results/{wildcards.dataset}/models/{run}/model.pt" for run in teachers]


def compress_targets(run):
    """Final targets of the compress section for one run (``get_final_outputs`` adds them).

    Every model file is a target, not only the table: snakemake reruns a job for missing
    outputs it is asked for only, so a new sparsity level would otherwise go unmade.
    """
    files = [
        *compress_outputs().values(),
        "results/{dataset}/compress/{model}/compress.tsv",
    ]
    return [
        path.format(dataset=run, model=model)
        for model in COMPRESS["models"]
        for path in files
    ]
