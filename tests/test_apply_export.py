import json

import numpy as np
import onnx
import onnxruntime
import pandas as pd
import pytest
import torch
from apply_helpers import LENGTH, TASKS, write_run

from peakcnn.apply.export import check_windows
from peakcnn.apply.loading import METADATA_KEY, file_sha256, load_model
from peakcnn.cli.main import main


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
@pytest.mark.parametrize(
    ("name", "rc_average"), [("basset", False), ("basset", True), ("kmer_baseline", False)]
)
def test_exports_match_pytorch_and_carry_metadata(tmp_path, name, rc_average, capsys):
    run = write_run(tmp_path, rc_average=rc_average, name=name)
    prefix = tmp_path / "exported" / "basset"
    assert main(["export", str(run.parent), "-o", str(prefix)]) == 0
    report = json.loads(prefix.with_suffix(".export.json").read_text())
    assert report["max_abs_diff_ts"] <= 1e-4 and report["max_abs_diff_onnx"] <= 1e-4

    # onnxruntime directly, on other windows (another batch size) than the export's check
    x = check_windows(LENGTH, n=37, seed=5)
    pytorch = load_model(str(run)).logits(x)
    session = onnxruntime.InferenceSession(str(prefix) + ".onnx")
    onnx_logits = session.run(None, {"x": x.astype(np.float32)})[0]
    assert np.abs(onnx_logits - pytorch).max() <= 1e-4
    script = torch.jit.load(str(prefix) + ".ts")
    assert np.abs(script(torch.from_numpy(x).float()).detach().numpy() - pytorch).max() <= 1e-4

    stored = json.loads(
        {p.key: p.value for p in onnx.load(str(prefix) + ".onnx").metadata_props}[METADATA_KEY]
    )
    train = tmp_path / "results" / "demo" / "dataset" / "train.npz"
    assert stored["length"] == LENGTH and stored["tasks"] == TASKS
    assert stored["alphabet"] == "ACGT" and stored["thresholds"] == pytest.approx([0.3, 0.4])
    assert stored["training_data_sha256"] == file_sha256(train)
    assert stored["rc_average"] is rc_average

    # the exports are models for predict, with the same scores
    fasta = tmp_path / "s.fa"
    fasta.write_text(">a\n" + "ACGTTGCA" * 15 + "\n>b\nGATTACA\n")
    tables = []
    for model in (run, f"{prefix}.ts", f"{prefix}.onnx"):
        out = tmp_path / f"{len(tables)}.tsv"
        assert main(["predict", str(model), "--fasta", str(fasta), "-o", str(out)]) == 0
        tables.append(pd.read_csv(out, sep="\t"))
        assert load_model(str(model)).metadata.thresholds == pytest.approx([0.3, 0.4])
    for table in tables[1:]:
        np.testing.assert_allclose(
            table[f"logit_{TASKS[1]}"], tables[0][f"logit_{TASKS[1]}"], atol=1e-4
        )
    assert main(["export", f"{prefix}.onnx", "-o", str(tmp_path / "again")]) == 2
    assert "export from the run's model.pt" in capsys.readouterr().err
    assert not (tmp_path / "again.ts").exists()
