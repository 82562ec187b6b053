"""The Flask application of ``peakcnn serve``: the Sequence and Run pages of trained models.

Bad input is shown on the page as one sentence (status 400), never as a stack trace; an
unexpected error is logged on the server and the page says so. Requests are bounded: a body
of at most ``MAX_BODY`` bytes, inputs of at most ``inputs.MAX_INPUT_BP`` bp, one window per
request, and one request at a time doing model work (others wait up to ``WAIT_S`` seconds,
then get a "busy" page).
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, abort, jsonify, render_template, request, send_from_directory

from peakcnn.apply.loading import LoadedModel, load_model
from peakcnn.errors import InputError
from peakcnn.web import analysis
from peakcnn.web.inputs import MAX_INPUT_BP, parse_query
from peakcnn.web.results import PLOT_SUFFIXES, Dataset, find_datasets, run_sections

logger = logging.getLogger(__name__)

#: Largest request body accepted, in bytes.
MAX_BODY = 100_000
#: Seconds a request waits for another one's model work before the page says "busy".
WAIT_S = 60.0


class Workbench:
    """The datasets served, their models (loaded once, on first use) and the work lock."""

    def __init__(self, datasets: dict[str, Dataset], limits: analysis.Limits, device: str):
        self.datasets = datasets
        self.limits = limits
        self.device = device
        self.models: dict[tuple[str, str], LoadedModel] = {}
        self.lock = threading.Lock()

    def dataset(self, name: str | None) -> Dataset:
        """Return a served dataset by name (the first one when none is given)."""
        if not name:
            return next(iter(self.datasets.values()))
        if name not in self.datasets:
            raise InputError(
                f"no dataset {name!r} here (served: {', '.join(self.datasets)}); choose one"
            )
        return self.datasets[name]

    def model(self, dataset: Dataset, run: str) -> LoadedModel:
        """Return the loaded model of a run (call with the lock held)."""
        key = (dataset.name, run)
        if key not in self.models:
            self.models[key] = load_model(str(dataset.model_path(run)), self.device)
        return self.models[key]


def create_app(
    results: list[str],
    *,
    limits: analysis.Limits | None = None,
    device: str = "cpu",
) -> Flask:
    """Build the application serving the datasets of one or more results folders.

    Parameters
    ----------
    results : list of str
        Results folders of the workflow (``results/``), each with ``<dataset>/models/<run>``.
    limits : analysis.Limits, optional
        SHAP references and mutagenesis width per request.
    device : str, default "cpu"
        Where the models run.

    Raises
    ------
    InputError
        When a folder holds no trained model.
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    bench = Workbench(find_datasets(results), limits or analysis.Limits(), device)
    app.extensions["peakcnn"] = bench

    @app.errorhandler(413)
    def too_large(_error):
        message = (
            f"request larger than {MAX_BODY // 1000} kB: paste at most {MAX_INPUT_BP:,} bp "
            "(score files with `peakcnn predict`)"
        )
        return _page("error.html", bench, message=message), 413

    @app.errorhandler(404)
    def not_found(_error):
        return _page("error.html", bench, message=f"no page {request.path}"), 404

    @app.errorhandler(500)
    def server_error(_error):
        message = "internal error while handling this request; the server log has the details"
        return _page("error.html", bench, message=message), 500

    @app.get("/")
    def index():
        return _page("index.html", bench)

    @app.route("/sequence", methods=["GET", "POST"])
    def sequence():
        return _sequence_page(bench)

    @app.post("/api/what-if")
    def what_if():
        return _what_if(bench)

    @app.get("/run/<name>")
    def run_page(name: str):
        try:
            dataset = bench.dataset(name)
            run = request.args.get("run") or dataset.default_run
            dataset.model_path(run)
        except InputError as error:
            return _page("error.html", bench, message=str(error)), 400
        sections = run_sections(dataset, run)
        return _page("run.html", bench, dataset=dataset, run=run, sections=sections)

    @app.get("/files/<name>/<path:relative>")
    def dataset_file(name: str, relative: str):
        dataset = bench.datasets.get(name)
        if dataset is None or Path(relative).suffix.lower() not in PLOT_SUFFIXES:
            abort(404)
        return send_from_directory(dataset.root.resolve(), relative)

    return app


def _page(template: str, bench: Workbench, **values):
    """Render a page with the list of datasets for the navigation bar."""
    return render_template(template, datasets=bench.datasets, **values)


def _form(bench: Workbench, values) -> dict:
    """Read the Sequence form's fields (dataset, run, input, task, strands), with defaults."""
    dataset = bench.dataset(values.get("dataset"))
    return {
        "dataset": dataset,
        "run": str(values.get("run") or dataset.default_run),
        "query": str(values.get("query") or ""),
        "task": str(values.get("task") or ""),
        "both_strands": values.get("both_strands") in ("on", "true", "1", True),
    }


@contextmanager
def _locked(bench: Workbench):
    """Hold the work lock, or raise ``InputError`` when the server stays busy."""
    if not bench.lock.acquire(timeout=WAIT_S):
        raise InputError(f"the server is busy with another request for over {WAIT_S:.0f} s; retry")
    try:
        yield
    finally:
        bench.lock.release()


def _sequence_page(bench: Workbench):
    """Render the Sequence page: the form, and for a POST the score and its explanation."""
    try:
        form = _form(bench, request.values)
    except InputError as error:
        return _page("error.html", bench, message=str(error)), 400
    if request.method == "GET" or not form["query"].strip():
        error = None if request.method == "GET" else "nothing to score: paste DNA or a region"
        status = 200 if error is None else 400
        return _page("sequence.html", bench, form=form, error=error), status
    try:
        result = _analyse(bench, form)
    except InputError as error:
        return _page("sequence.html", bench, form=form, error=str(error)), 400
    return _page("sequence.html", bench, form=form, result=result)


def _analyse(bench: Workbench, form: dict) -> dict:
    """Score the form's input and explain it for the chosen task (under the work lock)."""
    dataset = form["dataset"]
    with _locked(bench):
        model = bench.model(dataset, form["run"])
        genome = str(dataset.genome) if dataset.genome else None
        query = parse_query(form["query"], model.length, genome)
        task = _task_index(model, form["task"])
        result = {
            "query": query,
            "tasks": model.tasks,
            "task": task,
            "scores": analysis.scores(model, query, form["both_strands"]),
            "length": model.length,
            "model": model.metadata.name,
        }
        try:
            result["shap"] = analysis.shap_values(model, query, task, bench.limits)
        except InputError as error:
            result["shap_error"] = str(error)
        result["ism"] = analysis.mutagenesis(model, query, task, bench.limits)
    result["view"] = {
        "window": query.window,
        "first_position": query.first_position,
        "shap": result.get("shap", {}).get("values"),
        "ism": result["ism"],
        "task": model.tasks[task],
    }
    return result


def _task_index(model: LoadedModel, task: str) -> int:
    """Index of a task name (the first task when empty)."""
    if not task:
        return 0
    if task not in model.tasks:
        raise InputError(f"no task {task!r} in this model (tasks: {', '.join(model.tasks)})")
    return model.tasks.index(task)


def _what_if(bench: Workbench):
    """JSON: the effect of each substitution at one base of the Sequence page's window."""
    values = request.get_json(silent=True)
    if not isinstance(values, dict):
        return jsonify(error="send a JSON object with dataset, run, query and index"), 400
    try:
        form = _form(bench, values)
        index = values.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            raise InputError(f"index {index!r} is not a base of the window: send a whole number")
        with _locked(bench):
            model = bench.model(form["dataset"], form["run"])
            genome = str(form["dataset"].genome) if form["dataset"].genome else None
            query = parse_query(form["query"], model.length, genome)
            rows = analysis.what_if(model, query, index)
    except (InputError, ValueError, TypeError) as error:
        return jsonify(error=str(error)), 400
    return jsonify(rows=rows)
