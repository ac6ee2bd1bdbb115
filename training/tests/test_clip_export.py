# MiniCLIP export: the model folder follows docs/model-repository.md (kind "clip"), the
# ONNX graphs pass the checker with a dynamic batch axis, the golden files are complete
# and onnxruntime-node reproduces PyTorch on them (single and batched).
import json

import numpy as np
import onnx
import torch

from training.export import GOLDEN_TEXTS, export_miniclip
from training.models.clip import ClipModelConfig, MiniCLIP, TextConfig, create_image_tower
from training.data.tokenizer import EOT_ID, get_tokenizer
from training.data.transforms import PreprocessConfig


def test_export_layout_manifest_golden_and_parity(tmp_path):
    torch.manual_seed(0)
    kept = sorted(set(get_tokenizer()(["a photo of a red star."]).flatten().tolist()))
    m = MiniCLIP(ClipModelConfig(embed_dim=16, image_width=8, text=TextConfig(token_ids=kept, width=16, layers=1, heads=2))).eval()
    student = create_image_tower("mobilenetv3_small", 16).eval()
    pp = PreprocessConfig()
    card = export_miniclip(student, m.text, 42.5, pp, tmp_path, "miniclip-test", card={"zeroShot": {}}, log=lambda s: None)

    d = tmp_path / "miniclip-test"
    man = json.loads((d / "model.json").read_text())
    assert set(man) == {"name", "kind", "description", "preprocessing", "clip"}
    assert man["name"] == "miniclip-test" and man["kind"] == "clip"
    assert man["preprocessing"] == pp.manifest()
    assert man["clip"] == {
        "imageEncoder": {"file": "image_encoder.onnx", "input": "pixel_values", "output": "image_embeds"},
        "textEncoder": {"file": "text_encoder.onnx", "input": "input_ids", "output": "text_embeds"},
        "tokenizer": "tokenizer.json", "contextLength": 77, "padTokenId": EOT_ID, "logitScale": 42.5,
        "embeddingSize": 16, "templates": ["a photo of a {}."],
    }
    v = d / "1"
    for f in ("image_encoder.onnx", "text_encoder.onnx", "tokenizer.json", "eval.json", "golden/index.json"):
        assert (v / f).is_file(), f

    img = onnx.load(str(v / "image_encoder.onnx"))
    txt = onnx.load(str(v / "text_encoder.onnx"))
    assert img.opset_import[0].version == 17
    assert [i.name for i in img.graph.input] == ["pixel_values"] and [o.name for o in img.graph.output] == ["image_embeds"]
    assert [i.name for i in txt.graph.input] == ["input_ids"] and [o.name for o in txt.graph.output] == ["text_embeds"]
    assert txt.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    for g in (img, txt):
        assert g.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
    assert txt.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 77

    index = json.loads((v / "golden" / "index.json").read_text())
    images = [it for it in index["items"] if it["kind"] == "image"]
    texts = [it for it in index["items"] if it["kind"] == "text"]
    assert len(images) >= 3 and any(it["imageSize"] != [64, 64] for it in images)
    assert [t["text"] for t in texts] == GOLDEN_TEXTS
    for it in images:
        x = np.fromfile(v / "golden" / it["input"], "<f4")
        y = np.fromfile(v / "golden" / it["output"], "<f4")
        assert it["inputShape"] == [1, 3, 64, 64] and x.size == 3 * 64 * 64
        assert it["outputShape"] == [1, 16] and y.size == 16 and abs(np.linalg.norm(y) - 1) < 1e-5
    for it in texts:
        assert len(it["inputIds"]) == 77 and it["inputIds"] == get_tokenizer(pad_id=EOT_ID)([it["text"]])[0].tolist()
        assert np.fromfile(v / "golden" / it["output"], "<f4").size == 16

    par = card["onnx"]["parity"]
    assert par["items"] == len(index["items"])
    assert set(par["graphs"]) == {"image", "text"}
    assert max(max(g.values()) for g in par["graphs"].values()) == par["worst"] <= 1e-4
    assert json.loads((v / "eval.json").read_text())["onnx"]["parity"] == par
