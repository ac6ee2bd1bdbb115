# `python3 -m training zoo --smoke`: the whole zoo path at tiny sizes (data -> teacher ->
# distilled student -> export with checker, parity and golden files -> MiniCLIP step),
# run as CI runs it, then the repository layout the gateway reads is checked.
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_KEYS = {"name", "kind", "description", "inputs", "outputs", "preprocessing", "postprocessing",
                 "labels"}


def test_zoo_smoke_exports_models_with_parity_and_golden_files(tmp_path):
    out = tmp_path / "zoo"
    proc = subprocess.run([sys.executable, "-m", "training", "zoo", "--smoke", "--out", str(out)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)  # a hang guard, not a speed check
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in ("shapes-teacher", "shapes-mobilenetv3"):
        mdir = out / "models" / name
        manifest = json.loads((mdir / "model.json").read_text())
        assert set(manifest) == MANIFEST_KEYS and manifest["name"] == name
        assert manifest["inputs"] == [{"name": "input", "dtype": "float32", "shape": [-1, 3, 64, 64]}]
        assert manifest["outputs"] == [{"name": "logits", "dtype": "float32", "shape": [-1, 64]}]
        pp = manifest["preprocessing"]
        assert pp["size"] == [64, 64] and pp["resizeMode"] == "shorter" and pp["cropFraction"] == 1.0
        assert len((mdir / "labels.txt").read_text().split()) == 64
        card = json.loads((mdir / "1" / "eval.json").read_text())
        md = (mdir / "MODEL_CARD.md").read_text()
        assert md.startswith(f"# {name} (version 1)") and "## Known failures" in md and "## Limitations" in md
        assert card["onnx"]["parityMaxAbsDiff"] <= 1e-4 and "top1" in card["eval"]
        ort = card["onnx"]["ortParity"]  # onnxruntime-node on the golden inputs
        assert set(ort["graphs"]) == {"model"} and ort["items"] == 4
        assert max(ort["graphs"]["model"].values()) == ort["worst"] <= 1e-4
        golden = mdir / "1" / "golden"
        index = json.loads((golden / "index.json").read_text())
        assert len(index["items"]) == 4
        assert any(it["imageSize"] != [64, 64] for it in index["items"])
        for it in index["items"]:
            x = np.fromfile(golden / it["input"], "<f4")
            y = np.fromfile(golden / it["output"], "<f4")
            assert x.size == int(np.prod(it["inputShape"])) and y.size == int(np.prod(it["outputShape"]))
            assert (golden / it["image"]).exists() and np.isfinite(y).all()
    student = json.loads((out / "models" / "shapes-mobilenetv3" / "1" / "eval.json").read_text())
    assert student["teacher"]["name"] == "shapes-teacher"
    assert result["student"]["parityMaxAbsDiff"] <= 1e-4
    # every run leaves its resolved config, metrics and log beside its outputs
    for run in ("teacher", "student"):
        for f in ("config.yaml", "metrics.json", "train.log", "model.pt"):
            assert (out / "work" / run / f).exists()
