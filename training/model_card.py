"""Human-readable MODEL_CARD.md for an exported model folder, written from its model.json
and newest eval.json (so every figure in it is one the export measured): what the model is,
its data and recipe, its figures with their seed, its known failures (worst classes, weak
held-out pairs) and its limitations."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

LIMITATIONS = [
    "Trained and evaluated only on the procedural shapes data of `training/data/shapes.py` (64x64 synthetic "
    "images); it says nothing about photographs.",
    "Figures are single runs of the seed given; the spread between seeds can be large (see training/README.md).",
    "CPU-sized: trained in minutes on a 2-core machine, not tuned for best accuracy.",
]


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * float(x):.2f} %"


def _classifier(card: Dict, manifest: Dict) -> List[str]:
    ev = card.get("eval", {})
    lines = [
        "## Figures", "",
        f"- Test top-1: **{_pct(ev.get('top1'))}** on {ev.get('n', '?')} images (`{ev.get('split', '?')}`)"
        + (f"; one run, training seed {card['training'].get('seed')}" if card.get("training") else ""),
        f"- Parameters {card.get('params', 0):,}; {card.get('macs', 0) / 1e6:.2f} M MACs per 64x64 image "
        f"({card.get('flopsNote', '')})",
        f"- ONNX opset {card['onnx'].get('opset')}, {card['onnx'].get('bytes', 0) / 1e6:.2f} MB; parity vs PyTorch "
        f"{card['onnx'].get('parityMaxAbsDiff', 0):.1e} (NumPy), onnxruntime-node {json.dumps(card['onnx'].get('ortParity'))}",
    ]
    t = card.get("teacher")
    if t:
        lines.append(f"- Teacher `{t.get('name')}` ({t.get('arch')}): top-1 {_pct(t.get('top1'))}, "
                     f"{(t.get('macs') or 0) / 1e6:.2f} M MACs; student/teacher FLOPs {t.get('studentFlopsRatio', 0):.3f}")
    if (ev.get("top1") or 0) > 0.99:
        lines.append("- The benchmark these figures come from is saturated (top-1 > 99 %): they cannot tell models "
                     "apart; `--set difficulty=hard` is the benchmark that can (training/README.md).")
    lines += ["", "## Known failures", ""]
    worst = ev.get("worstClasses") or {}
    lines.append("Worst classes on the test split: " + (", ".join(f"{k} {_pct(v)}" for k, v in worst.items()) or "n/a"))
    return lines


def _classifier_training(tr: Dict) -> List[str]:
    d = tr.get("data")
    lines = []
    if d:
        lines.append(f"Data: the procedural shapes set (`training/data/shapes.py`), difficulty `{d.get('difficulty')}`, "
                     f"task `{d.get('task')}`, data seed {d.get('seed')}, {d.get('train_per_class')} / "
                     f"{d.get('val_per_class')} / {d.get('test_per_class')} images per class (train / val / test), "
                     f"shapes {100 * d.get('min_size_frac', 0):.0f}-{100 * d.get('max_size_frac', 0):.0f} % of the image, "
                     f"noise std {d.get('noise_std')}.")
    steps = (f"{tr['steps']:,} steps" if tr.get("steps") else
             f"at most {tr['maxSteps']} steps" if tr.get("maxSteps") else f"{tr.get('epochs')} epochs")
    kd = tr.get("kd")
    lines.append(f"Recipe: seed {tr.get('seed')}, {steps} of batch {tr.get('batchSize')}, {tr.get('optimizer')} lr "
                 f"{tr.get('lr')} weight decay {tr.get('weightDecay')}, {tr.get('warmupSteps')} warm-up steps then cosine, "
                 f"label smoothing {tr.get('labelSmoothing')}"
                 + (f", distillation T = {kd.get('temperature')}, alpha = {kd.get('alpha')}" if kd else "") + ".")
    return lines


def _clip(card: Dict, manifest: Dict) -> List[str]:
    zs = card.get("zeroShot", {})
    st = zs.get("exported") or zs.get("student") or {}
    lines = ["## Figures", "",
             f"- Zero-shot top-1 over all 64 colour-shape prompts (`{st.get('template')}`): held-out pairs "
             f"**{_pct(st.get('heldout_top1'))}** ({st.get('heldout_images')} images), seen pairs {_pct(st.get('seen_top1'))}",
             f"- Held-out pairs (never in CLIP training): {', '.join(zs.get('heldoutCombinations', []))}",
             f"- Logit scale {card.get('logitScale', 0):.2f}"]
    ml = card.get("multiLabel")
    if ml:
        lines.append(f"- multi_label calibration sigmoid({ml['scale']:.3f} x cosine {ml['bias']:+.3f}), fitted on "
                     f"{ml['fittedOn']}; colour and shape words as separate labels on {ml['heldoutTestImages']} held-out "
                     f"test images, at 0.5: precision {_pct(ml['calibrated']['precision'])}, recall "
                     f"{_pct(ml['calibrated']['recall'])} (uncalibrated: {_pct(ml['uncalibrated']['precision'])} / "
                     f"{_pct(ml['uncalibrated']['recall'])}, {ml['uncalibrated']['meanScoreSum']} summed score per image "
                     f"for 2 true labels)")
    lines += ["", "## Known failures", ""]
    per_pair = (ml or {}).get("zeroShotHeldoutPerPair") or st.get("heldout_per_pair") or {}
    if per_pair:
        lines.append("Zero-shot top-1 per held-out pair: " + ", ".join(f"{k} {_pct(v)}" for k, v in per_pair.items()))
        weak = [k for k, v in per_pair.items() if v is not None and v < 0.6]
        if weak:
            lines.append("")
            lines.append(f"**Weak pairs (< 60 %): {', '.join(weak)}.** The mean over pairs hides them.")
    else:
        lines.append("No per-pair figures in this card.")
    if (card.get("training") or {}).get("imageTower") == "factored" and card.get("exportedImageEncoder") != "student":
        lines += ["", "The factored image tower reads shape from chroma alone, so a shape without colour (grey, "
                  "white, black) is invisible to it, and its colour branch pools over the whole image, so two coloured "
                  "objects mix their colours. It composes colour and shape by construction, which suits these "
                  "synthetic images (one saturated shape on a greyish background) and says little about photographs."]
    return lines


def _ablation(ab: Dict) -> List[str]:
    v = ab.get("verdict", {})
    lines = ["## Dynamic convolution: the ablation", "",
             f"Command: `{ab.get('command', 'python3 -m training ablation')}`. Test top-1 on the "
             f"{ab.get('benchmark', 'hard fine-grained benchmark')}, mean ± sd over the seeds, every row trained the same steps:", "", ab.get("markdown", "").rstrip(), ""]
    for name, c in (v.get("comparisons") or {}).items():
        why = ("one seed: no sd, so not decided" if c.get("seeds", 2) < 2 else
               f"{'wins' if c['wins'] else 'does not win'}: a win needs more than the larger sd")
        lines.append(f"- {name}: {100 * c['meanDiff']:+.2f} points ({why})")
    lines += ["", f"**{ab.get('decision', 'Dynamic convolution wins.' if v.get('dynamicWins') else 'Dynamic convolution does not win.')}**"]
    return lines


def _zero_shot_seeds(zs: Dict) -> List[str]:
    lines = ["## Zero-shot over seeds", "", f"Command: `{zs.get('command', 'python3 -m training clip --seeds ...')}`", ""]
    splits = [k for k in ("val", "test") if k in zs]

    def fmt(st: Dict) -> str:
        return f"{100 * st['mean']:.1f} ± {100 * st['sd']:.1f} % ({', '.join(f'{100 * v:.1f}' for v in st['runs'])})"
    lines.append("| held-out pair | " + " | ".join(f"{s} top-1 (mean ± sd; runs of seeds {zs.get('seeds')})" for s in splits) + " |")
    lines.append("|---|" + "---|" * len(splits))
    for pair in zs[splits[0]]["heldoutPerPair"]:
        lines.append(f"| {pair} | " + " | ".join(fmt(zs[s]["heldoutPerPair"][pair]) for s in splits) + " |")
    lines.append("| **mean** | " + " | ".join(fmt(zs[s]["heldoutTop1"]) for s in splits) + " |")
    t = zs.get("targets", {})
    lines += ["", f"Targets (every pair >= {_pct(t.get('pair'))}, mean >= {_pct(t.get('mean'))}): " +
              ", ".join(f"{s} {'met' if zs[s]['targetsMet'] else 'not met'}" for s in splits) + "."]
    return lines


def _reranker(rr: Dict, manifest: Dict) -> List[str]:
    """The zero-shot reranker (cross-modal attention) shipped beside the towers, and its figures."""
    section = manifest.get("clip", {}).get("reranker", {})
    lines = ["## Zero-shot reranker", "",
             f"`{rr.get('file')}` ({rr.get('bytes', 0) / 1e6:.2f} MB, {rr.get('params', 0):,} parameters): cross-modal "
             f"attention (training/models/cross_modal.py) trained {rr.get('steps')} steps on {rr.get('trainedOn')}; "
             f"the gateway runs it on the cosine top-k when a request says `rerank: true` (limit "
             f"{section.get('maxTopK')}; manifest default {json.dumps(section.get('rerank'))}). onnxruntime-node vs "
             f"PyTorch max abs diff {rr.get('parity', {}).get('worst', float('nan')):.1e}. Command: `{rr.get('command')}`.", ""]
    for name, rows in (rr.get("table") or {}).items():
        lines += [f"Top-1, {name}:", "", "| row | seen pairs | held-out pairs |", "|---|---|---|"]
        lines += [f"| {row} | {_pct(s['seen'])} | {_pct(s['heldout'])} |" for row, s in rows.items() if row != "images"]
        lines.append("")
    return lines[:-1]


def _nas_search(ns: Dict, card: Dict) -> List[str]:
    """How a NAS child's architecture was found: the `nas-report` over the seeds it stores."""
    arch = " ".join((card.get("model") or {}).get("nas_architecture") or [])
    lines = ["## How the architecture was found (latency-aware NAS)", "",
             f"This model's architecture (positions 1-8): `{arch}`. Found by `nas` (training/nas_run.py: a "
             "weight-sharing supernet, proximal-gradient architecture steps, cross-entropy + lambda x the latency "
             "table's prediction / target) on the hard fine-grained set (8 classes, chance 12.5 %), then trained "
             "from scratch with the same steps and recipe as the hand-designed MobileNetV3-small student it is "
             "compared with. Every row below: mean ± sd over the seeds; latency measured with onnxruntime-node, "
             "one thread, on the 2-core machine the runs trained on.", "",
             ns.get("markdown", "").rstrip(), ""]
    ev, n = card.get("eval", {}), card.get("numClasses") or 1
    budget = ns.get("budget") or {}
    steps = (f"{budget['child_steps']:,} steps of batch {budget['batch_size']} from scratch"
             if budget.get("child_steps") else "a short budget")
    lines += ["Limits of this model:", "",
              f"- Not converged: test top-1 {_pct(ev.get('top1'))} on {n} classes (chance {_pct(1 / n)}) after "
              f"{steps}, the budget of the hand-designed student it is compared with above; small networks get "
              "relatively far at such budgets, and it is not an accurate fine-grained classifier.",
              "- One seed's child (the description names it): the seeds may find other architectures in the positions "
              "that are not `skip` (above).",
              "- Latency is what onnxruntime-node measured on one thread of the 2-core machine the runs trained on; "
              "timing a 0.1 ms graph there moves by several percent between measurements (training/README.md, NAS).",
              ""]
    if ns.get("command"):
        lines += ["Commands:", "", "```sh", ns["command"].rstrip(), "```"]
    return lines


def attach(model_dir: Path, key: str, data: Dict) -> Path:
    """Store `data` under `key` in the newest eval.json of `model_dir` and rewrite the card."""
    mdir = Path(model_dir)
    vdir = sorted((d for d in mdir.iterdir() if d.is_dir() and d.name.isdigit()), key=lambda d: int(d.name))[-1]
    card = json.loads((vdir / "eval.json").read_text())
    card[key] = data
    (vdir / "eval.json").write_text(json.dumps(card, indent=2) + "\n")
    return write(mdir)


def render(model_dir: Path) -> str:
    mdir = Path(model_dir)
    manifest = json.loads((mdir / "model.json").read_text())
    vdir = sorted((d for d in mdir.iterdir() if d.is_dir() and d.name.isdigit()), key=lambda d: int(d.name))[-1]
    card = json.loads((vdir / "eval.json").read_text())
    tr = card.get("training") or {}
    lines = [f"# {manifest['name']} (version {vdir.name})", "", manifest.get("description", ""), "",
             f"Kind `{manifest['kind']}`; input {manifest['preprocessing']['size']} RGB, preprocessing in model.json.", "",
             "## Data and recipe", ""]
    if manifest["kind"] == "clip":
        student = (f"student {tr.get('studentSteps')} steps, distillation {json.dumps(tr.get('distill'))}"
                   if tr.get("studentSteps") else "no student: the image tower trained with CLIP ships")
        lines.append(f"Captions of the procedural shapes set, held-out colour-shape pairs removed; seed {tr.get('seed')}; "
                     f"image tower `{tr.get('imageTower', card.get('teacherImageEncoder', {}).get('arch'))}`, "
                     f"partial captions {tr.get('partialCaptions', 0.0)}; teacher {tr.get('teacherSteps')} steps, "
                     f"{student}, batch {tr.get('batchSize')}, loss {tr.get('loss')}.")
        body = _clip(card, manifest)
    else:
        teacher = (card.get("teacher") or {}).get("name") or card.get("distilledFrom")
        lines.append(f"Architecture `{card.get('arch')}` ({json.dumps(card.get('model'))}); "
                     f"distilled from `{teacher}`." if card.get("distilledFrom")
                     else f"Architecture `{card.get('arch')}` ({json.dumps(card.get('model'))}), trained with labels.")
        lines += _classifier_training(tr) if tr else ["Recipe and seed: the run's config.yaml (the zoo's are in training/zoo.py)."]
        body = _classifier(card, manifest)
    if card.get("dynamicConvAblation"):
        body += [""] + _ablation(card["dynamicConvAblation"])
    if card.get("zeroShotSeeds"):
        body += [""] + _zero_shot_seeds(card["zeroShotSeeds"])
    if card.get("reranker"):
        body += [""] + _reranker(card["reranker"], manifest)
    if card.get("nasSearch"):
        body += [""] + _nas_search(card["nasSearch"], card)
    lines += [""] + body + ["", "## Limitations", ""] + [f"- {x}" for x in LIMITATIONS] + [
        "", f"Generated by `gateway-training card` from `{vdir.name}/eval.json`."]
    return "\n".join(lines) + "\n"


def write(model_dir: Path) -> Path:
    out = Path(model_dir) / "MODEL_CARD.md"
    out.write_text(render(model_dir))
    return out
