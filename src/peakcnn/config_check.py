"""Check the workflow config against its schema: defaults, one-line errors, constraints.

``validate_config`` fills every schema default (also those behind ``$ref`` and inside
``oneOf``/``anyOf``), so a config that lacks whole sections (``--replace-workflow-config``)
still runs; reports the most relevant schema error as one line naming the key's path with a
short hint (a close key name, the allowed values, the key's description), never the schema;
and enforces the cross-key constraints the schema's descriptions state.
"""

from __future__ import annotations

import copy
import difflib
import logging
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from peakcnn.errors import InputError

logger = logging.getLogger(__name__)

#: The prefix of every config error (there is no one file: snakemake merges config files).
WHERE = "config"


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Fill defaults into ``config`` in place, validate it and check cross-key constraints.

    Parameters
    ----------
    config : dict
        The workflow config (snakemake's ``config``), changed in place.
    schema_path : str or pathlib.Path
        The JSON schema, in YAML.

    Returns
    -------
    dict
        ``config``, with every schema default filled in.

    Raises
    ------
    InputError
        One line: the key's path, what is wrong and a hint.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = Draft202012Validator(schema)
    fill_defaults(config, schema, schema)
    errors = list(validator.iter_errors(config))
    if errors:
        error = most_relevant(errors)
        raise InputError(describe_error(error, schema), WHERE)
    check_constraints(config)
    return config


def resolve(node: dict, root: dict) -> dict:
    """Follow local ``$ref`` (``#/...``) chains from a schema node to the node they name."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def fill_defaults(instance: Any, node: dict, root: dict) -> None:
    """Set the schema's defaults for missing keys of ``instance``, recursively, in place.

    ``$ref`` is followed; for ``oneOf``/``anyOf`` the first branch the instance is valid
    under (before filling) gets its defaults filled.
    """
    node = resolve(node, root)
    if not isinstance(instance, dict):
        return
    properties = node.get("properties", {})
    for key, sub in properties.items():
        sub = resolve(sub, root)
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            fill_defaults(instance[key], sub, root)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in properties:
                fill_defaults(value, extra, root)
    for keyword in ("oneOf", "anyOf"):
        for branch in node.get(keyword, []):
            if Draft202012Validator(root).evolve(schema=branch).is_valid(instance):
                fill_defaults(instance, branch, root)
                break


def most_relevant(errors: list[ValidationError]) -> ValidationError:
    """Return the error at the deepest key, a concrete keyword before ``oneOf``/``anyOf``.

    Unlike ``jsonschema.exceptions.best_match`` it does not descend into the sub-errors of
    ``oneOf``/``anyOf``: ``pick_branch_error`` chooses the branch meant for the value first.
    """
    return max(errors, key=lambda e: (len(e.path), e.validator not in ("oneOf", "anyOf")))


def key_path(error: ValidationError) -> str:
    """Return the config path of an error's value, as ``a.b[0].c`` (or ``<top level>``)."""
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top level>"


def join_path(path: str, key: str) -> str:
    """Path of ``key`` inside the object at ``path``."""
    return key if path == "<top level>" else f"{path}.{key}"


def describe_error(error: ValidationError, root: dict) -> str:
    """One line for a schema error: the key's path, what is wrong, a hint; never the schema."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        return describe_error(pick_branch_error(error, root), root)
    path = key_path(error)
    node = resolve(error.schema, root) if isinstance(error.schema, dict) else {}
    value = error.instance
    if error.validator == "additionalProperties":
        known = list(node.get("properties", {}))
        unknown = [key for key in value if key not in known]
        return unknown_key_message(path, unknown[0] if unknown else "?", known)
    if "propertyNames" in error.schema_path:
        return f"{join_path(path, str(value))}: key not allowed here ({_message(error)}); rename it"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        return f"{join_path(path, missing)}: required key missing; add it"
    if error.validator == "enum":
        allowed = [str(v) for v in error.validator_value]
        close = difflib.get_close_matches(str(value), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{path}: {_short(value)} is not one of {allowed}{hint}"
    if error.validator == "type":
        expected = error.validator_value
        hint = ""
        if isinstance(value, str) and expected in ("integer", "number", ["integer"], ["number"]):
            hint = " (--config passes nested values as text: use --configfile)"
        return (
            f"{path}: {_short(value)} is {type(value).__name__}, expected {expected}{hint}"
            f"{_description(node)}"
        )
    return f"{path}: {_short(value)} {_message(error)}{_description(node)}"


def pick_branch_error(error: ValidationError, root: dict) -> ValidationError:
    """Return the most relevant sub-error of a ``oneOf``/``anyOf`` error.

    The branch is the one meant for the value: of the branches whose type fits the value,
    the one that knows (or nearly knows: a typo) most of its keys, then the one that got
    deepest into the value, then the one with the fewest errors; within it the most
    relevant error.
    """
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.schema_path[0], []).append(sub)
    value = error.instance

    def score(item: tuple[int, list[ValidationError]]) -> tuple:
        index, errors = item
        branch = resolve(error.validator_value[index], root)
        wrong_type = any(e.validator == "type" and not e.path for e in errors)
        known = list(branch.get("properties", {}))
        keys = list(value) if isinstance(value, dict) else []
        near = sum(bool(k in known or difflib.get_close_matches(k, known, n=1)) for k in keys)
        depth = max(len(e.path) for e in errors)
        return (wrong_type, -near, -depth, len(errors))

    _, errors = min(branches.items(), key=score)
    return most_relevant(errors)


def unknown_key_message(path: str, key: str, known: list[str]) -> str:
    """``path.key: unknown key`` with the closest known key, or the known keys."""
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        hint = f"did you mean {close[0]!r}?"
    else:
        hint = f"known keys: {', '.join(known)}" if known else "no keys are allowed here"
    return f"{join_path(path, key)}: unknown key; {hint}"


def _short(value: Any, width: int = 60) -> str:
    """``repr`` of a value, cut to ``width`` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _message(error: ValidationError) -> str:
    """Return the jsonschema message without the value it starts with (shown already)."""
    text = error.message
    shown = repr(error.instance)
    return text[len(shown) :].strip() if text.startswith(shown) else text


def _description(node: dict) -> str:
    """`` (description's first sentence)`` of a schema node, or nothing."""
    text = " ".join(str(node.get("description", "")).split())
    return f" ({text.split('; ')[0].rstrip('.')})" if text else ""


def check_constraints(config: dict) -> None:
    """Enforce the cross-key constraints stated in the schema's descriptions.

    Raises
    ------
    InputError
        For the first constraint broken, naming both keys.
    """
    rules = [
        *_window_and_split_rules(config),
        *_model_and_task_rules(config),
        *_compress_rules(config),
    ]
    for holds, message in rules:
        if not holds:
            raise InputError(message, WHERE)
    windows = config["windows"]
    if windows["max_n_fraction"] != config["negatives"]["max_n_fraction"]:
        logger.warning(
            "windows.max_n_fraction %s differs from negatives.max_n_fraction %s: the N content "
            "of a window may then tell positives from negatives",
            windows["max_n_fraction"],
            config["negatives"]["max_n_fraction"],
        )


def _window_and_split_rules(config: dict) -> list[tuple[bool, str]]:
    """List (holds, message) of the constraints between window and split settings."""
    windows, split = config["windows"], config["split"]
    length = windows["length"]
    shared = sorted(set(split["val_chroms"]) & set(split["test_chroms"]))
    return [
        (
            windows["label_width"] <= length,
            f"windows.label_width {windows['label_width']} is larger than windows.length "
            f"{length}; make it at most the window length",
        ),
        (
            split["gap"] >= length,
            f"split.gap {split['gap']} is shorter than windows.length {length}; windows "
            "could span two splits: set split.gap >= windows.length",
        ),
        (
            split["method"] != "random" or split["random_block"] > split["gap"],
            f"split.random_block {split['random_block']} must be larger than split.gap "
            f"{split['gap']} (random split pieces are separated by the gap)",
        ),
        (
            split["folds"] == 0 or split["folds"] >= 3,
            f"split.folds {split['folds']}: use 0 (one split) or at least 3 folds",
        ),
        (
            split["val_fraction"] + split["test_fraction"] < 1,
            f"split.val_fraction {split['val_fraction']} + split.test_fraction "
            f"{split['test_fraction']} leave nothing to train on; make their sum below 1",
        ),
        (
            not shared,
            f"split.val_chroms and split.test_chroms share {shared}; make them disjoint",
        ),
    ]


def _model_and_task_rules(config: dict) -> list[tuple[bool, str]]:
    """List (holds, message) of the constraints on models, tasks and negative strategies."""
    models, strategy = config["models"], config["negatives"]["strategy"]
    rules = [
        (
            config["evaluate"]["baseline"] in (None, *models),
            f"evaluate.baseline {config['evaluate']['baseline']!r} is not one of models "
            f"{models}; name a trained model or null (the first)",
        ),
        (
            not isinstance(strategy, dict) or sum(strategy.values()) > 0,
            "negatives.strategy: the mixture's weights sum to 0; give at least one a weight > 0",
        ),
    ]
    task = config["attribute"]["task"]
    for name, dataset in config["datasets"].items():
        peaks = dataset["peaks"]
        tasks = [name] if isinstance(peaks.get("source"), str) else list(peaks)
        rules.append(
            (
                task is None or task in tasks,
                f"attribute.task {task!r} is not a peak set of dataset {name!r} (tasks "
                f"{tasks}); name one of them or null (the first)",
            )
        )
    return rules


#: Models ``peakcnn compress`` takes: the Basset-style CNNs (``peakcnn.compress.common``).
COMPRESSIBLE_MODELS = ("basset", "basset_paper")


def _compress_rules(config: dict) -> list[tuple[bool, str]]:
    """List (holds, message) of the constraints on the compress section."""
    models, compress = config["models"], config["compress"]
    rules = []
    for name in compress["models"]:
        rules.append(
            (
                name in models and name in COMPRESSIBLE_MODELS,
                f"compress.models: {name!r} is not a trained Basset-style model; name one of "
                f"{[m for m in models if m in COMPRESSIBLE_MODELS]} (of models {models})",
            )
        )
    for teacher in compress["teachers"]:
        rules.append(
            (
                teacher == "seeds" or teacher in models,
                f"compress.teachers: {teacher!r} is neither `seeds` nor one of models {models}",
            )
        )
    return rules
