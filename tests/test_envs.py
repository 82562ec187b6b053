"""Conda environments and cluster profiles, checked against the rules as written.

No conda channel is reachable from CI, so the environments are checked statically: the
third-party imports of each rule's script and of the library modules it runs (its
``script_code(...)`` inputs: the script's own peakcnn imports, followed through
peakcnn's imports) must be listed in the rule's env file, with lower bounds no older than
pyproject.toml's, and the versions of the tested installation (this python's) must satisfy
each env's bounds. The SLURM profiles must keep GPU requests exactly where intended.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, metadata, version
from pathlib import Path

import pytest
import yaml
from helpers import LIBRARY, REPO, list_rules, rule_code, third_party_imports
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
RULES = rule_code()
ACTION_RULES = sorted(name for name, rule in RULES.items() if rule.script)

# Import name -> package names that provide it in an env file (conda, or PyPI in its pip:
# section); the first is the one to list.
PACKAGE_NAMES = {
    "sklearn": ("scikit-learn",),
    "torch": ("pytorch", "pytorch-gpu", "pytorch-cpu"),
    "yaml": ("pyyaml",),
    "matplotlib": ("matplotlib-base", "matplotlib"),
    "modiscolite": ("modisco-lite",),
    "PIL": ("pillow",),
}
# Import name -> PyPI name, where they differ.
PYPI_NAMES = {"sklearn": "scikit-learn", "yaml": "pyyaml", "modiscolite": "modisco-lite"}
# PyPI (pyproject) name -> conda name, where they differ.
PYPI_TO_CONDA = {"torch": "pytorch", "matplotlib": "matplotlib-base"}
# Programs a package runs, which no import shows.
RUNTIME_NEEDS = {"pybedtools": ("bedtools",)}
# Programs the library runs itself (subprocess), by module.
LIBRARY_PROGRAMS = {"peakcnn.data.homology": ("minimap2",)}
RUNTIME_PROGRAMS = {
    program
    for programs in [*RUNTIME_NEEDS.values(), *LIBRARY_PROGRAMS.values()]
    for program in programs
}
# Submodules that need a package of their own, which the top-level import does not show.
SUBMODULE_NEEDS = {"torch.utils.tensorboard": "tensorboard"}
# Conda name -> PyPI name of the installed distribution, where they differ.
CONDA_TO_PYPI = {conda: pypi for pypi, conda in PYPI_TO_CONDA.items()}


def pyproject() -> dict:
    """The [project] table of pyproject.toml (tests that read it skip on python 3.10)."""
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs python >= 3.11")
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def submodule_needs(imports: set[str]) -> dict[str, str]:
    """Package -> submodule needing it, for the given dotted imports (beyond top-level ones)."""
    return {
        package: module
        for module, package in SUBMODULE_NEEDS.items()
        if any(name == module or name.startswith(f"{module}.") for name in imports)
    }


def installed_version(name: str) -> Version | None:
    """The tested installation's version of an env package: python, a program, or a package."""
    if name == "python":
        return Version("{}.{}.{}".format(*sys.version_info[:3]))
    if name in RUNTIME_PROGRAMS:
        found = subprocess.run([name, "--version"], capture_output=True, text=True, check=True)
        return Version(re.search(r"(\d+(?:\.\d+)+)", found.stdout)[1])
    try:
        return Version(version(CONDA_TO_PYPI.get(name, name)))
    except PackageNotFoundError:
        return None


def env_packages(path: Path) -> dict[str, str]:
    """Package name -> version constraint ('' if none) of an env file, pip entries included."""
    env = yaml.safe_load(path.read_text())
    packages = {}
    for entry in env["dependencies"]:
        specs = entry["pip"] if isinstance(entry, dict) else [entry]
        for spec in specs:
            match = re.fullmatch(r"(?:[\w.-]+::)?([A-Za-z0-9_.-]+)\s*(.*)", spec.strip())
            assert match, f"{path.name}: cannot read dependency {spec!r}"
            packages[match[1].lower()] = match[2].replace(" ", "")
    return packages


def lower_bound(constraint: str) -> Version | None:
    """The ``>=`` bound of a version constraint, if any."""
    bounds = [Version(s.version) for s in SpecifierSet(constraint or "") if s.operator == ">="]
    return max(bounds) if bounds else None


def upper_bound(constraint: str) -> Version | None:
    """The ``<`` bound of a version constraint, if any."""
    bounds = [Version(s.version) for s in SpecifierSet(constraint or "") if s.operator == "<"]
    return min(bounds) if bounds else None


def test_rule_files_hold_every_rule_of_the_workflow():
    # The statically read rules are the workflow's rules (snakemake itself lists them), and
    # every rule but the target `all` runs a script.
    assert list_rules(REPO) == set(RULES)
    assert set(RULES) - set(ACTION_RULES) == {"all"}


def test_every_rule_may_have_a_resources_entry():
    # resources.<rule> is checked by the schema: a rule it does not list could not be tuned.
    schema = yaml.safe_load((REPO / "config/config.schema.yaml").read_text())
    names = schema["properties"]["resources"]["propertyNames"]["enum"]
    assert set(names) == set(ACTION_RULES) | {"default"}


@pytest.mark.parametrize("path", ENV_FILES, ids=[p.name for p in ENV_FILES])
def test_env_file_is_sound(path):
    env = yaml.safe_load(path.read_text())
    assert set(env) <= {"name", "channels", "dependencies"}
    channels = env["channels"]
    # conda-forge before bioconda (bioconda's own requirement); no defaults channel.
    assert channels[0] == "conda-forge" and "nodefaults" in channels and "defaults" not in channels
    packages = env_packages(path)
    assert "python" in packages
    for name, constraint in packages.items():
        if name != "pip":
            assert lower_bound(constraint) is not None, f"{path.name}: {name} has no >= bound"
    if any(isinstance(entry, dict) for entry in env["dependencies"]):
        assert "pip" in packages, f"{path.name} has a pip: section but does not list pip"


def test_every_env_file_is_used():
    assert {RULES[name].env for name in ACTION_RULES} == {p.resolve() for p in ENV_FILES}


@pytest.mark.parametrize("name", ACTION_RULES)
def test_rule_declares_an_existing_env(name):
    rule = RULES[name]
    assert rule.env is not None, f"rule {name} has no conda: directive"
    assert rule.env.is_file(), f"rule {name}: {rule.env} does not exist"
    assert rule.env.parent == (REPO / "envs").resolve()
    assert rule.script.is_file()


@pytest.mark.parametrize("name", ACTION_RULES)
def test_rule_env_lists_every_third_party_import(name):
    rule = RULES[name]
    packages = env_packages(rule.env)
    missing = []
    for module in sorted(rule.imports):
        candidates = PACKAGE_NAMES.get(module, (module.lower().replace("_", "-"),))
        if not any(candidate in packages for candidate in candidates):
            missing.append(f"{module} (package {candidates[0]})")
        for program in RUNTIME_NEEDS.get(module, ()):
            if program not in packages:
                missing.append(f"{program} (run by {module})")
    for package, module in sorted(submodule_needs(rule.dotted_imports).items()):
        if package not in packages:
            missing.append(f"{package} (for {module})")
    assert not missing, f"{rule.env.name} lacks what rule {name} imports: {', '.join(missing)}"


def test_the_import_scan_sees_the_known_dependencies():
    # Guards the test above against passing because it found nothing.
    assert {"torch", "sklearn"} <= RULES["train_model"].imports
    assert {"shap", "tangermeme", "logomaker"} <= RULES["compute_attributions"].imports
    assert {"pyfaidx", "pybedtools"} <= RULES["sample_negatives"].imports
    assert "pyfaidx" in RULES["fetch_genome"].imports
    assert set(submodule_needs(RULES["train_model"].dotted_imports)) == {"tensorboard"}


def test_library_imports_are_declared_in_pyproject():
    declared = {Requirement(r).name.lower() for r in pyproject()["dependencies"]}
    imported = set().union(*(third_party_imports(p, True) for p in LIBRARY.rglob("*.py")))
    needed = {PYPI_NAMES.get(m.split(".")[0], m.split(".")[0]).lower() for m in imported}
    missing = (needed | set(submodule_needs(imported))) - declared
    assert not missing, f"pyproject.toml does not declare {sorted(missing)}"


@pytest.mark.parametrize("path", ENV_FILES, ids=[p.name for p in ENV_FILES])
def test_env_bounds_agree_with_pyproject(path):
    # Lower bounds no older than pyproject's; the same upper bound, so that a pip installation
    # (what CI tests) and a conda environment stay in the same release series.
    packages = env_packages(path)
    for requirement in map(Requirement, pyproject()["dependencies"]):
        pypi = requirement.name.lower()
        conda = PYPI_TO_CONDA.get(pypi, pypi)
        name = pypi if pypi in packages else conda  # pip entries keep the PyPI name
        if name not in packages:
            continue
        wanted = lower_bound(str(requirement.specifier))
        if wanted is not None:
            have = lower_bound(packages[name])
            assert have is not None and have >= wanted, (
                f"{path.name}: {name}{packages[name]} allows older than pyproject's {requirement}"
            )
        assert upper_bound(packages[name]) == upper_bound(str(requirement.specifier)), (
            f"{path.name}: {name}{packages[name]} and pyproject's {requirement} end apart"
        )


@pytest.mark.parametrize("path", ENV_FILES, ids=[p.name for p in ENV_FILES])
def test_env_python_can_run_snakemake_scripts(path):
    # A `script:` runs with the env's python, which unpickles the job's `snakemake` object by
    # importing snakemake from the main installation: it needs a python snakemake supports.
    have = lower_bound(env_packages(path)["python"])
    assert have >= lower_bound(metadata("snakemake")["Requires-Python"])
    assert have >= lower_bound(pyproject()["requires-python"])


@pytest.mark.parametrize("path", ENV_FILES, ids=[p.name for p in ENV_FILES])
def test_env_versions_are_the_tested_ones(path):
    # No conda channel is reachable from CI, so an env cannot be built and tested there; its
    # bounds must instead hold the versions the tests run with, and stop at the next major
    # release (or minor, for 0.x), which might break the code.
    untested, unbounded = [], []
    for name, constraint in env_packages(path).items():
        if name == "pip":
            continue
        if upper_bound(constraint) is None:
            unbounded.append(name)
        have = installed_version(name)
        if have is None or not SpecifierSet(constraint).contains(have, prereleases=True):
            untested.append(f"{name}{constraint} (tested: {have})")
    assert not unbounded, f"{path.name}: no upper bound for {unbounded}"
    assert not untested, f"{path.name} allows only untested versions: {untested}"


def test_each_rule_lists_the_library_code_its_own_script_runs():
    # Editing a module a script imports must rerun the rule: its code= input is
    # script_code("<its own script>"), which follows the script's imports. The fetch rules list
    # no library inputs (a library edit does not download again): left out.
    wrong = {
        name: sorted(RULES[name].script_modules - RULES[name].code_modules)
        for name in ACTION_RULES
        if not name.startswith("fetch_") and RULES[name].code_modules != RULES[name].modules
    }
    assert not wrong, f"rules whose script_code() is not their own script's: {wrong}"


def profile_resources(name: str) -> dict[str, dict]:
    """``set-resources`` of a profile: rule -> resources."""
    return yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())["set-resources"]


def test_gpu_rules_are_declared():
    # Guards the profile tests below against a parser that finds no GPU rule.
    assert RULES["train_model"].gpu == 1


def test_cpu_slurm_profile_requests_no_gpu():
    # A rule declaring gpu=1 would send --gpus=1 to sbatch, which a CPU partition refuses.
    resources = profile_resources("slurm")
    asking = {
        name for name, rule in RULES.items() if resources.get(name, {}).get("gpu", rule.gpu) != 0
    }
    assert not asking, f"profiles/slurm lets these rules ask for a GPU: {sorted(asking)}"


def test_gpu_slurm_profile_gives_gpu_rules_a_gpu():
    resources = profile_resources("slurm-gpu")
    gpu_rules = {name for name, rule in RULES.items() if rule.gpu}
    assert all(resources.get(name, {}).get("gpu", 1) >= 1 for name in gpu_rules)
    # ...and only they; memory and time come from the rules (config `resources`), not here.
    assert {name for name, res in resources.items() if res.get("gpu", 0) >= 1} == gpu_rules
    assert all({"threads", "mem_mb", "runtime"} <= RULES[name].resources for name in ACTION_RULES)
