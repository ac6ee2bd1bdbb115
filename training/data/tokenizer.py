"""CLIP byte-level BPE tokenizer: a port of OpenAI's clip/simple_tokenizer.py (MIT,
https://github.com/openai/CLIP) reading the same bpe_simple_vocab_16e6.txt.gz, so the
ids equal those of the Hugging Face tokenizer.json the gateway reads.

Differences from upstream, and why:
- no ftfy (not packaged by Debian): cleanup is html-unescape (twice, as upstream),
  Unicode NFC (what ftfy's fix_text and the HF normalizer apply), whitespace collapse,
  lower-case. Mojibake repair is the only ftfy feature lost.
- the pad id is configurable: OpenAI pads with 0, Hugging Face with 49407. The text
  tower reads the end-of-text position, so either works if training used the same one."""
from __future__ import annotations

import gzip
import html
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Iterable, List, Sequence, Union

import regex as re
import torch

# The vocabulary ships inside the package (package data; sources and licence in
# assets/NOTICE.md), so an installed package finds it wherever it lives.
ASSETS = Path(__file__).resolve().with_name("assets")
DEFAULT_BPE_PATH = ASSETS / "bpe_simple_vocab_16e6.txt.gz"
DEFAULT_TOKENIZER_JSON = ASSETS / "tokenizer.json"

SOT_TOKEN = "<|startoftext|>"
EOT_TOKEN = "<|endoftext|>"
SOT_ID = 49406
EOT_ID = 49407
VOCAB_SIZE = 49408
CONTEXT_LENGTH = 77


@lru_cache()
def bytes_to_unicode() -> dict:
    """Byte -> printable unicode char table of GPT-2/CLIP byte-level BPE (so no byte is
    whitespace or a control char inside a BPE symbol)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def _get_pairs(word: Sequence[str]) -> set:
    return {(a, b) for a, b in zip(word[:-1], word[1:])}


def basic_clean(text: str) -> str:
    text = html.unescape(html.unescape(text))
    text = unicodedata.normalize("NFC", text)
    return text.strip()


def whitespace_clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class SimpleTokenizer:
    """OpenAI CLIP's BPE tokenizer. `encode` gives the bare BPE ids; `__call__` gives the
    padded [N, context_length] int64 tensor with start/end tokens (like clip.tokenize)."""

    def __init__(self, bpe_path: Union[str, Path] = DEFAULT_BPE_PATH, context_length: int = CONTEXT_LENGTH, pad_id: int = 0):
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        merges = gzip.open(bpe_path).read().decode("utf-8").split("\n")
        # upstream keeps merges 1..48894: 49152 - 256 single bytes - 2 specials
        merges = [tuple(m.split()) for m in merges[1 : 49152 - 256 - 2 + 1]]
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += [SOT_TOKEN, EOT_TOKEN]
        self.encoder = {t: i for i, t in enumerate(vocab)}
        self.decoder = {i: t for t, i in self.encoder.items()}
        self.bpe_ranks = {m: i for i, m in enumerate(merges)}
        self.cache = {SOT_TOKEN: SOT_TOKEN, EOT_TOKEN: EOT_TOKEN}
        self.pat = re.compile(
            r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            re.IGNORECASE,
        )
        self.sot_id = self.encoder[SOT_TOKEN]
        self.eot_id = self.encoder[EOT_TOKEN]
        assert (self.sot_id, self.eot_id) == (SOT_ID, EOT_ID) and len(vocab) == VOCAB_SIZE
        self.context_length = context_length
        self.pad_id = pad_id

    def bpe(self, token: str) -> str:
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = _get_pairs(word)
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word: List[str] = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = _get_pairs(word)
        out = " ".join(word)
        self.cache[token] = out
        return out

    def encode(self, text: str) -> List[int]:
        """BPE ids of `text`, without start/end tokens."""
        ids: List[int] = []
        text = whitespace_clean(basic_clean(text)).lower()
        for token in re.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        text = "".join(self.decoder[int(i)] for i in ids)
        return bytearray([self.byte_decoder[c] for c in text]).decode("utf-8", errors="replace").replace("</w>", " ")

    def encode_with_specials(self, text: str) -> List[int]:
        """[SOT] + ids + [EOT], truncated to the context length with EOT kept last (as
        clip.tokenize(truncate=True) and the HF tokenizer with truncation do)."""
        ids = [self.sot_id] + self.encode(text) + [self.eot_id]
        if len(ids) > self.context_length:
            ids = ids[: self.context_length]
            ids[-1] = self.eot_id
        return ids

    def __call__(self, texts: Union[str, Sequence[str]], context_length: int | None = None) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        n = context_length or self.context_length
        out = torch.full((len(texts), n), self.pad_id, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = self.encode_with_specials(t)[:n]
            ids[-1] = self.eot_id if len(ids) == n else ids[-1]
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out


@lru_cache(maxsize=4)
def get_tokenizer(pad_id: int = 0, context_length: int = CONTEXT_LENGTH) -> SimpleTokenizer:
    """Shared instance (reading the merges takes ~0.3 s)."""
    return SimpleTokenizer(context_length=context_length, pad_id=pad_id)
