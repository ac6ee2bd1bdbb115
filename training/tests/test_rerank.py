# The `rerank` run at toy size: it trains on seen pairs only, reports cosine / reranker / reranked
# rows on seen and held-out pairs, and exports the reranker beside a copy of the shipped MiniCLIP
# (checker, onnxruntime-node parity, golden files, the manifest's clip.reranker section, the card).
import json
import shutil
from pathlib import Path

import numpy as np

from training.data.shapes import ShapesConfig
from training.rerank_run import RerankRunConfig, rerank_predictions, run_rerank

REPO = Path(__file__).resolve().parents[2]


def test_rerank_predictions_pick_the_best_candidate_of_the_cosine_top_k():
    sims = np.array([[0.9, 0.8, 0.1, 0.7], [0.1, 0.2, 0.3, 0.4]])
    logits = np.array([[0.0, 1.0, 9.0, 2.0], [5.0, 0.0, 1.0, 0.0]])
    # image 0: top-2 by cosine = {0, 1}, reranker prefers 1 (label 2 is outside the top-2)
    # image 1: top-2 = {3, 2}, reranker prefers 2
    assert rerank_predictions(sims, logits, 2).tolist() == [1, 2]
    assert rerank_predictions(sims, logits, 4).tolist() == [2, 0]


def test_rerank_run_at_toy_size(tmp_path):
    miniclip = tmp_path / "miniclip-shapes"
    shutil.copytree(REPO / "models" / "miniclip-shapes", miniclip)
    (miniclip / "1" / "reranker.onnx").unlink(missing_ok=True)
    shutil.rmtree(miniclip / "1" / "golden" / "rerank", ignore_errors=True)
    manifest = json.loads((miniclip / "model.json").read_text())
    manifest["clip"].pop("reranker", None)
    (miniclip / "model.json").write_text(json.dumps(manifest))
    cfg = RerankRunConfig(out_dir=str(tmp_path / "run"), miniclip=str(miniclip), steps=2, batch_size=8, warmup_steps=1,
                          log_every_steps=1, candidates_per_step=5, hard_train_per_class=1, hard_test_per_class=1, top_k=(2,),
                          data=ShapesConfig(train_per_class=1, val_per_class=0, test_per_class=1, workers=1))
    res = run_rerank(cfg)
    for name in ("easy test", "hard test"):
        rows = res["table"][name]
        assert list(rows) == ["MiniCLIP cosine", "reranker alone (all 64 labels)", "cosine top-2 reranked", "images"]
        assert rows["images"] == {"seen": 56, "heldout": 8, "all": 64}
    assert "| cosine top-2 reranked |" in (tmp_path / "run" / "rerank.md").read_text()
    served = json.loads((miniclip / "model.json").read_text())["clip"]["reranker"]
    assert served["file"] == "reranker.onnx" and served["contextLength"] == 16 and served["template"] == "a photo of a {}."
    assert served["maxTopK"] == 16 and served["rerank"] == {"enabled": False, "topK": 3}
    assert res["export"]["parity"]["worst"] <= 1e-4 and (miniclip / "1" / "reranker.onnx").is_file()
    golden = json.loads((miniclip / "1" / "golden" / "rerank" / "index.json").read_text())
    assert len(golden["items"]) == 4 and golden["template"] == "a photo of a {}."
    assert "## Zero-shot reranker" in (miniclip / "MODEL_CARD.md").read_text()
    assert json.loads((miniclip / "1" / "eval.json").read_text())["reranker"]["sha256"] == res["export"]["sha256"]
