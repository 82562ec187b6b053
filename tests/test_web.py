"""``peakcnn serve`` over real HTTP: scores, what-ifs, the Run page, bad input, bounds, binding."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from apply_helpers import LENGTH, REPO_SRC, reference_logits
from web_helpers import fetch, serving, write_results

from peakcnn.cli.main import main
from peakcnn.cli.serve import is_loopback
from peakcnn.models.checkpoint import save_checkpoint
from peakcnn.models.registry import build_model

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A served tiny results folder: ``(url, contigs, model.pt)``."""
    folder = tmp_path_factory.mktemp("web")
    results, contigs = write_results(folder)
    with serving(results) as url:
        yield url, contigs, results / "demo" / "models" / "basset" / "model.pt"


def probabilities(page: str) -> list[float]:
    return [float(v) for v in re.findall(r'class="probability">([0-9.]+)<', page)]


def error_of(page: str) -> str:
    match = re.search(r'id="error">(.*?)</p>', page, re.S)
    return html.unescape(match[1]) if match else ""


def score(url: str, query: str, **fields) -> tuple[int, str]:
    status, body, _ = fetch(f"{url}sequence", {"dataset": "demo", "query": query, **fields})
    return status, body.decode()


def sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, dtype=np.float64)))


def test_pasted_fasta_cropped_and_region_inputs_score_the_same_window(site):
    url, contigs, model = site
    window = contigs["Chr1"][1000:1100]
    expected = sigmoid(reference_logits(model, [window])[0])
    fasta = ">peak1 some description\n" + window[:60] + "\n" + window[60:] + "\n"
    pages = [
        score(url, window.lower()),
        score(url, fasta),
        score(url, contigs["Chr1"][900:1200]),
        score(url, "Chr1:1,001-1,100"),
    ]
    for status, page in pages:
        assert status == 200, error_of(page)
        assert np.allclose(probabilities(page), expected, atol=6e-5)
        assert "Traceback" not in page
    assert "central 100 bp scored" in pages[2][1]
    assert "peak1" in pages[1][1]
    # validation thresholds of write_run (0.3 and 0.4) and their calls
    calls = re.findall(r"<td>(0\.[0-9]{4})</td>\s*<td[^>]*>(bound|not bound)</td>", pages[0][1])
    assert [float(c) for c, _ in calls] == [0.3, 0.4]
    assert [c for _, c in calls] == [
        "bound" if p >= cut else "not bound" for p, cut in zip(expected, (0.3, 0.4), strict=True)
    ]


def test_shap_values_add_up_and_ism_covers_the_centre(site):
    url, contigs, _ = site
    status, page = score(url, contigs["Chr2"][1200:1300], task="root")
    assert status == 200, error_of(page)
    total, delta = map(
        float,
        re.search(
            r"values (-?\d+\.\d+), logit minus mean reference logit (-?\d+\.\d+)", page
        ).groups(),
    )
    assert abs(total - delta) < 2e-3
    view = json.loads(html.unescape(re.search(r'id="view">(.*?)</script>', page, re.S)[1]))
    assert view["task"] == "root"
    assert view["window"] == contigs["Chr2"][1200:1300].upper()
    assert len(view["shap"]) == 100 and any(abs(v) > 0 for v in view["shap"])
    assert view["ism"]["start"] == 30 and np.array(view["ism"]["values"]).shape == (4, 40)
    # the observed base of each ISM column has no change; nearly all substitutions do
    values = np.array(view["ism"]["values"])
    observed = ["ACGT".index(b) for b in view["window"][30:70]]
    assert np.all(values[observed, np.arange(40)] == 0)
    assert np.count_nonzero(values) >= 0.9 * 3 * 40


def test_what_if_scores_each_substitution_as_variants_does(site):
    url, contigs, model = site
    status, body, kind = fetch(
        f"{url}api/what-if", json_body={"dataset": "demo", "query": "Chr1:1001-1100", "index": 50}
    )
    assert status == 200 and kind.startswith("application/json")
    rows = json.loads(body)["rows"]
    chr1 = contigs["Chr1"]
    ref = chr1[1050]
    assert {r["alt"] for r in rows} == set("ACGT") - {ref} and len(rows) == 3 * 2
    for row in rows:
        assert row["pos"] == 1051 and row["ref"] == ref
        t = ["leaf", "root"].index(row["task"])
        for allele, key in ((ref, "ref_probability"), (row["alt"], "alt_probability")):
            window = chr1[1001:1050] + allele + chr1[1051:1101]
            reverse = window.translate(COMPLEMENT)[::-1]
            logits = reference_logits(model, [window, reverse])[:, t]
            assert row[key] == pytest.approx(sigmoid(logits.mean()), abs=1e-5)
        assert row["log2_odds_ratio"] == pytest.approx(row["logit_difference"] / np.log(2))


@pytest.mark.parametrize(
    ("query", "fields", "message"),
    [
        ("ACGTACGTXX" * 10, {}, "'X' at base 9 is not DNA"),
        ("ACGTACGTAC", {}, "sequence too short: 10 bp"),
        ("Chr1:2951-3050", {}, "runs off the end of Chr1 (3,000 bp)"),
        ("scaffold_9:1-100", {}, "contig 'scaffold_9' is not in the genome of this run (Chr1"),
        ("Chr1:-5-100", {}, "region 'Chr1:-5-100' is not chrom:start-end"),
        ("Chr1:1001", {}, "region 'Chr1:1001' is not chrom:start-end"),
        (">a\nACGT\n>b\nACGT", {}, "2 FASTA records pasted"),
        ("Chr1:1001-1100", {"run": "cnn_large"}, "no model 'cnn_large' in dataset 'demo'"),
        ("Chr1:1001-1100", {"dataset": "other"}, "no dataset 'other' here"),
        ("Chr1:1001-1100", {"task": "stem"}, "no task 'stem' in this model"),
    ],
)
def test_bad_input_is_one_sentence_on_the_page(site, query, fields, message):
    url, _, _ = site
    status, page = score(url, query, **fields)
    assert status == 400
    assert message in error_of(page)
    assert "Traceback" not in page and "probability" not in page


def test_request_size_is_bounded(site):
    url, _, _ = site
    status, body, _ = fetch(f"{url}sequence", {"dataset": "demo", "query": "A" * 150_000})
    assert status == 413 and "request larger than 100 kB" in error_of(body.decode())
    status, page = score(url, "A" * 60_000)  # under the body limit, over the sequence limit
    assert status == 413 or "sequence too long" in error_of(page)
    status, body, _ = fetch(
        f"{url}api/what-if", json_body={"dataset": "demo", "query": "Chr1:1001-1100", "index": 100}
    )
    assert status == 400 and "outside the 100 bp window" in json.loads(body)["error"]
    status, body, _ = fetch(
        f"{url}api/what-if", json_body={"dataset": "demo", "query": "Chr1:1001-1100", "index": "x"}
    )
    assert status == 400 and json.loads(body)["error"] == (
        "index 'x' is not a base of the window: send a whole number"
    )


def test_window_at_a_contig_end_is_named_by_its_bases_on_the_contig(site):
    url, contigs, _ = site
    status, page = score(url, "Chr1:1-50")  # window centred on base 25: 25 N before Chr1
    assert status == 200
    assert re.search(r"100 bp window\s+Chr1:1-75 \(25 N before it\)\.", page)
    end = len(contigs["Chr1"])
    status, page = score(url, f"Chr1:{end - 19}-{end}")  # centred 10 bp before the end
    assert f"Chr1:{end - 59}-{end} (40 N after it)." in page


def test_run_page_shows_the_files_on_disk(site):
    url, _, _ = site
    status, body, _ = fetch(f"{url}run/demo")
    page = body.decode()
    assert status == 200
    for text in ("0.8123", "0.7456", "0.8789", "counts.train", "eval/best.json"):
        assert text in page
    missing = re.search(r"Not produced: ([^<]*)", page.split("Model comparison")[1])[1]
    assert "eval/models.tsv" in missing and "eval/models.png" in missing
    image = re.search(r'<a href="([^"]+roc\.png)" title="full size"><img src="\1"', page)[1]
    status, png, kind = fetch(url.rstrip("/") + image)
    assert status == 200 and kind == "image/png" and png.startswith(b"\x89PNG")
    for path in ("files/demo/dataset/train.npz", "files/demo/../../genome.fa", "files/nope/x.png"):
        assert fetch(url + path)[0] == 404
    assert fetch(f"{url}run/demo?run=nope")[0] == 400


def test_run_page_shows_the_homology_check_and_the_motif_summary(site):
    url, _, model = site
    dataset = model.parents[2]
    (dataset / "dataset").mkdir(exist_ok=True)
    homology = {"program": "minimap2 2.24", "splits": {"test": {"near_identical": 37}}}
    (dataset / "dataset" / "homology.json").write_text(json.dumps(homology))
    status, body, _ = fetch(f"{url}run/demo")
    page = body.decode()
    split = page.split("Split, homology check and negatives")[1]
    assert status == 200 and "dataset/homology.json" in split and "minimap2 2.24" in split
    assert "splits.test.near_identical</th><td>37<" in split
    motifs = page.split("Motifs of basset")[1].split("Split, homology")[0]
    assert (
        "attribution/basset/motifs/summary.json" in re.search(r"Not produced: ([^<]*)", motifs)[1]
    )


def test_a_model_without_shap_gets_mutagenesis_and_no_logo_controls(tmp_path):
    results, _ = write_results(tmp_path)
    hyper = {"length": LENGTH, "n_tasks": 2, "k": 3}
    run = results / "demo" / "models" / "kmer_baseline"
    run.mkdir()
    save_checkpoint(
        str(run / "model.pt"),
        build_model("kmer_baseline", **hyper),
        "kmer_baseline",
        hyper,
        {"explainer": None},  # as training stores it for the k-mer baseline
    )
    with serving(results) as url:
        status, page = score(url, "Chr1:1001-1100", run="kmer_baseline")
    assert status == 200 and "has no SHAP explainer" in page
    assert '<div class="controls" hidden>' in page
    view = json.loads(
        re.search(r'<script type="application/json" id="view">(.*?)</script>', page)[1]
    )
    assert view["shap"] is None and len(view["ism"]["values"][0]) == 40


def test_serve_refuses_a_public_address_unless_asked(tmp_path, capsys):
    results, _ = write_results(tmp_path)
    command = [sys.executable, "-m", "peakcnn.cli.main", "serve", str(results), "--port", "0"]
    env = {"PYTHONPATH": str(REPO_SRC), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [*command, "--host", "0.0.0.0"], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 2
    assert "--host 0.0.0.0 would open the page to other machines; pass --public" in done.stderr
    for host in ("192.168.1.10", "::", "example.org"):
        assert main(["serve", str(results), "--host", host]) == 2
        assert f"--host {host} would open" in capsys.readouterr().err
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert is_loopback(host)
    with serving(results, "--host", "0.0.0.0", "--public") as address:
        assert address.startswith("http://0.0.0.0:")
        port = address.rsplit(":", 1)[1]
        assert fetch(f"http://127.0.0.1:{port}")[0] == 200


def test_serve_refuses_a_folder_without_models(tmp_path, capsys):
    assert main(["serve", str(tmp_path)]) == 2
    assert "no trained model here" in capsys.readouterr().err


def test_what_if_at_the_edge_of_a_pasted_sequence_pads_with_n(site):
    url, contigs, model = site
    pasted = contigs["Chr2"][1500:1600]
    status, body, _ = fetch(
        f"{url}api/what-if", json_body={"dataset": "demo", "query": pasted, "index": 0}
    )
    assert status == 200
    rows = [row for row in json.loads(body)["rows"] if row["task"] == "leaf"]
    assert [row["pos"] for row in rows] == [1, 1, 1] and rows[0]["ref"] == pasted[0]
    for row in rows:
        window = "N" * 49 + row["alt"] + pasted[1:51]
        reverse = window.translate(COMPLEMENT)[::-1]
        logit = reference_logits(model, [window, reverse])[:, 0].mean()
        assert row["alt_probability"] == pytest.approx(sigmoid(logit), abs=1e-5)
