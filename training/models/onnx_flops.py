"""Parameters and multiply-accumulates counted from an exported ONNX graph itself, so the
eval card states the cost of the graph the gateway runs (a dynamic convolution exports as
K convolutions mixed afterwards, which costs more than its training-time form).

MACs, per image (the batch axis set to 1): Conv = output elements x (input channels /
group) x kernel area; MatMul and Gemm = output elements x the reduced dimension.
Element-wise ops, normalisation and pooling are not counted, as fvcore and thop do not.
Parameters: the elements of every floating-point initializer (BatchNorm running statistics
folded or not, as exported)."""
from __future__ import annotations

from typing import Dict

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference


def _dims(vi) -> list:
    return [d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim]


def graph_cost(model: onnx.ModelProto) -> Dict[str, int]:
    """{"macs": per-image MACs, "params": initializer elements} of `model`."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for vi in list(m.graph.input) + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1  # cost per image
    m = shape_inference.infer_shapes(m, data_prop=True)  # resolves Reshape targets built from Shape (GroupNorm)
    shapes = {vi.name: _dims(vi) for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output)}
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)
    macs = 0
    for node in m.graph.node:
        if node.op_type == "Conv":
            w = shapes[node.input[1]]  # [O, I/group, kh, kw]
            out = shapes.get(node.output[0])
            if out is None:
                raise ValueError(f"no inferred shape for {node.output[0]} ({node.name})")
            macs += int(np.prod(out)) * int(np.prod(w[1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            a = shapes.get(node.input[0])
            out = shapes.get(node.output[0])
            if a is None or out is None:
                raise ValueError(f"no inferred shape for {node.name} ({node.op_type})")
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            k = a[-2] if trans_a else a[-1]
            macs += int(np.prod(out)) * int(k)
    params = sum(int(v.size) for v in inits.values() if v.dtype.kind == "f")
    return {"macs": macs, "params": params}
