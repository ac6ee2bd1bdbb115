# The Python CLIP tokenizer must give the ids of OpenAI's reference and of the HF
# tokenizer.json the gateway reads; these tests pin both.
import json
from pathlib import Path

import pytest
import torch

from training.data.tokenizer import (CONTEXT_LENGTH, DEFAULT_TOKENIZER_JSON, EOT_ID, SOT_ID,
                                     get_tokenizer)

VECTORS = Path(__file__).resolve().parent / "fixtures" / "clip_token_vectors.json"


def _cases():
    d = json.loads(VECTORS.read_text(encoding="utf-8"))
    return [(e.get("name") or e["text"] or "<empty>", e["text"], e["ids"]) for e in d["published"] + d["computed"]]


@pytest.mark.parametrize("name,text,ids", _cases(), ids=[c[0] for c in _cases()])
def test_ids_match_reference_vectors(name, text, ids):
    # the vectors are unpadded and untruncated (one is 83 ids long)
    tok = get_tokenizer()
    assert [SOT_ID] + tok.encode(text) + [EOT_ID] == ids


def test_vocab_equals_hf_tokenizer_json():
    # Same token -> id table as tokenizer.json (what @huggingface/tokenizers loads in
    # the gateway), so both sides agree on every id, not only the vectors above.
    hf = json.loads(DEFAULT_TOKENIZER_JSON.read_text(encoding="utf-8"))
    vocab = dict(hf["model"]["vocab"])
    for t in hf["added_tokens"]:
        vocab[t["content"]] = t["id"]
    assert get_tokenizer().encoder == vocab


def test_padding_truncation_and_pad_id():
    tok = get_tokenizer(pad_id=0)
    x = tok(["a photo of a red star.", "x " * 200])
    assert x.shape == (2, CONTEXT_LENGTH) and x.dtype == torch.long
    assert x[0, :9].tolist() == [SOT_ID, 320, 1125, 539, 320, 736, 1565, 269, EOT_ID]
    assert (x[0, 9:] == 0).all()
    # over-long: cut to 77 with EOT kept last, as clip.tokenize(truncate=True)
    assert x[1, 0] == SOT_ID and x[1, -1] == EOT_ID and (x[1] == EOT_ID).sum() == 1
    hf_style = get_tokenizer(pad_id=EOT_ID)("a cat")
    assert hf_style[0, :4].tolist() == [SOT_ID, 320, 2368, EOT_ID] and (hf_style[0, 4:] == EOT_ID).all()


def test_cleanup_without_ftfy():
    tok = get_tokenizer()
    assert tok.encode("  A &amp;  Photo\n") == tok.encode("a & photo")
    assert tok.decode(tok.encode("a photo of a red star.")).strip() == "a photo of a red star ."
