"""A small NumPy evaluator for the ONNX ops our exported graphs use. Debian's python3-onnx
1.12 has no onnx.reference and there is no onnxruntime for Python here, so export's
parity check (ONNX graph vs PyTorch, as timm's export does with ORT) runs the graph
with this instead. It checks the graph's structure and constants against PyTorch; the
gateway's TypeScript test checks onnxruntime-node against the same golden outputs."""
from __future__ import annotations

from typing import Dict, List

import numpy as np
import onnx
from onnx import numpy_helper


def _attrs(node) -> Dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x, w, b, a):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    g = a.get("group", 1)
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pads = a.get("pads", [0, 0, 0, 0])
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    win = np.lib.stride_tricks.sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]                     # [N, C, Ho, Wo, kh, kw]
    ho, wo = win.shape[2], win.shape[3]
    win = win.reshape(n, g, c // g, ho, wo, kh, kw)
    wg = w.reshape(g, o // g, cg, kh, kw)
    out = np.einsum("ngchwij,gocij->ngohw", win, wg, optimize=True).reshape(n, o, ho, wo)
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out.astype(np.float32)


def _erf(x):
    """NumPy has no erf: math.erf, vectorised (exact to float64)."""
    import math

    return np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64))


def _standardize(x, axes, eps):
    """(x - mean) / sqrt(var + eps) over `axes`: the common core of LayerNormalization and
    InstanceNormalization."""
    mu = x.mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + eps)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def run(model: onnx.ModelProto, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
    env: Dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env.update(feeds)
    for node in model.graph.node:
        a = _attrs(node)
        i = [env[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Conv":
            r = _conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "BatchNormalization":  # inference form (not fused after dynamic convs)
            shape = (1, -1) + (1,) * (i[0].ndim - 2)
            scale = i[1] / np.sqrt(i[4] + a.get("epsilon", 1e-5))
            r = (i[0] - i[3].reshape(shape)) * scale.reshape(shape) + i[2].reshape(shape)
        elif op == "Relu":
            r = np.maximum(i[0], 0)
        elif op == "HardSigmoid":
            r = np.clip(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0, 1)
        elif op == "HardSwish":
            r = i[0] * np.clip(i[0] / 6 + 0.5, 0, 1)
        elif op == "Sigmoid":
            r = 1 / (1 + np.exp(-i[0]))
        elif op == "Add":
            r = i[0] + i[1]
        elif op == "Sub":
            r = i[0] - i[1]
        elif op == "Mul":
            r = i[0] * i[1]
        elif op == "Div":
            r = i[0] / i[1]
        elif op == "GlobalAveragePool":
            r = i[0].mean(axis=(2, 3), keepdims=True)
        elif op == "ReduceMean":
            r = i[0].mean(axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1)))
        elif op == "Flatten":
            ax = a.get("axis", 1)
            r = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif op == "Gemm":
            A = i[0].T if a.get("transA", 0) else i[0]
            B = i[1].T if a.get("transB", 0) else i[1]
            r = a.get("alpha", 1.0) * A @ B
            if len(i) > 2 and i[2] is not None:
                r = r + a.get("beta", 1.0) * i[2]
        elif op == "MatMul":
            r = i[0] @ i[1]
        elif op == "Softmax":
            r = _softmax(i[0], a.get("axis", -1))
        elif op == "Constant":
            r = numpy_helper.to_array(a["value"])
        elif op == "Reshape":
            shape = [d if d != 0 else i[0].shape[k] for k, d in enumerate(i[1].tolist())]
            r = i[0].reshape(shape)
        elif op == "Shape":
            r = np.array(i[0].shape, dtype=np.int64)
        elif op == "Gather":
            r = np.take(i[0], i[1], axis=a.get("axis", 0))
        elif op == "Unsqueeze":
            r = np.expand_dims(i[0], tuple(i[1].tolist()))
        elif op == "Squeeze":
            r = np.squeeze(i[0], tuple(i[1].tolist())) if len(i) > 1 else np.squeeze(i[0])
        elif op == "Concat":
            r = np.concatenate(i, axis=a["axis"])
        elif op == "ReduceSum":
            axes = tuple(i[1].tolist()) if len(i) > 1 and i[1] is not None else None
            r = i[0].sum(axis=axes, keepdims=bool(a.get("keepdims", 1)))
        elif op == "Transpose":
            r = np.transpose(i[0], a.get("perm"))
        elif op == "Identity":
            r = i[0]
        elif op == "Erf":  # GELU's exact form
            r = _erf(i[0])
        elif op == "LayerNormalization":  # opset 17; normalises over axis..rank-1
            ax = a.get("axis", -1) % i[0].ndim
            r = _standardize(i[0], tuple(range(ax, i[0].ndim)), a.get("epsilon", 1e-5)) * i[1]
            if len(i) > 2 and i[2] is not None:
                r = r + i[2]
        elif op == "InstanceNormalization":  # per (image, channel) over the spatial axes; GroupNorm's export
            shape = (1, -1) + (1,) * (i[0].ndim - 2)
            r = (_standardize(i[0], tuple(range(2, i[0].ndim)), a.get("epsilon", 1e-5)) * i[1].reshape(shape)
                 + i[2].reshape(shape))
        else:
            raise NotImplementedError(f"onnx_eval: op {op} is not implemented")
        if isinstance(r, np.ndarray) and r.dtype == np.float64:
            r = r.astype(np.float32)
        env[node.output[0]] = r
    return [env[o.name] for o in model.graph.output]
