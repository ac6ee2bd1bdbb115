"""onnxruntime-node parity of an exported model folder.

Runs ort_parity.cjs (package data, beside this file) with Node.js against the golden files.
onnxruntime-node is found, in this order, in: the directory given by --node-modules (which
sets GATEWAY_TRAINING_NODE_MODULES), that environment variable, then the first
node_modules/onnxruntime-node above this package (running in place inside the gateway's
repository) or above the current directory. When none has it, or node is missing, the check
fails with OrtParityUnavailable saying what to do: an export is never declared checked
without it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

ENV_NODE_MODULES = "GATEWAY_TRAINING_NODE_MODULES"
SCRIPT = Path(__file__).resolve().with_name("ort_parity.cjs")


class OrtParityUnavailable(RuntimeError):
    """node or onnxruntime-node cannot be found."""


def _has_ort(d: Path) -> bool:
    return (d / "onnxruntime-node" / "package.json").is_file()


def _upwards(start: Path) -> Iterable[Path]:
    for d in (start, *start.parents):
        yield d / "node_modules"


def find_node_modules(explicit: Optional[str] = None) -> Path:
    """The node_modules directory that holds onnxruntime-node (see the module docstring)."""
    given = explicit or os.environ.get(ENV_NODE_MODULES)
    if given:
        d = Path(given).expanduser().resolve()
        if d.name != "node_modules" and (d / "node_modules").is_dir():
            d = d / "node_modules"  # a project folder was given
        if not _has_ort(d):
            raise OrtParityUnavailable(f"onnxruntime-node not found in {d} (from --node-modules / {ENV_NODE_MODULES})")
        return d
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for d in _upwards(start):
            if _has_ort(d):
                return d
    raise OrtParityUnavailable(
        "onnxruntime-node not found: run `npm ci` in the gateway's repository and pass --node-modules "
        f"<repo>/node_modules (or set {ENV_NODE_MODULES}), or run from inside that repository")


def preflight(node_modules: Optional[str] = None) -> Tuple[str, Path]:
    """(node, node_modules) for the parity run, or OrtParityUnavailable. Commands that export
    call it before training, so a missing runtime fails in seconds, not after the run."""
    node = shutil.which("node")
    if node is None:
        raise OrtParityUnavailable("node (Node.js >= 20) is not on PATH; it runs onnxruntime-node for the parity check")
    if not SCRIPT.is_file():
        raise OrtParityUnavailable(f"{SCRIPT} is missing from the installed package")
    return node, find_node_modules(node_modules)


def run(vdir: Path, node_modules: Optional[str] = None, timeout_s: int = 300) -> Dict:
    """Parity of <vdir> (a version folder with golden/ and ../model.json): the script's JSON,
    {"items", "graphs": {name: {"single", "batched"}}, "worst"}, plus the runtime's version."""
    node, nm = preflight(node_modules)
    proc = subprocess.run([node, str(SCRIPT), str(nm), str(vdir)], capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"onnxruntime-node parity run failed: {proc.stderr.strip()[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    version = json.loads((nm / "onnxruntime-node" / "package.json").read_text()).get("version")
    res["runtime"] = f"onnxruntime-node {version}"
    return res


RUN_SCRIPT = Path(__file__).resolve().with_name("ort_run.cjs")


def run_graph(onnx_path: Path, input_name: str, output_name: str, x, node_modules: Optional[str] = None,
              batch: int = 256, timeout_s: int = 1800):
    """Outputs of `onnx_path` on a float32 (or int64: token ids) array `x` (first axis = batch),
    run by onnxruntime-node, as float32 [batch, -1]."""
    import tempfile

    import numpy as np

    node, nm = preflight(node_modules)
    with tempfile.TemporaryDirectory() as d:
        inp, out = Path(d) / "in.f32", Path(d) / "out.f32"
        dtype = "int64" if np.asarray(x).dtype.kind in "iu" else "float32"
        np.ascontiguousarray(x, dtype="<i8" if dtype == "int64" else "<f4").tofile(inp)
        proc = subprocess.run([node, str(RUN_SCRIPT), str(nm), str(onnx_path), input_name, output_name, str(inp),
                               json.dumps(list(x.shape)), str(out), str(batch), dtype], capture_output=True, text=True,
                              timeout=timeout_s)
        if proc.returncode != 0:
            raise RuntimeError(f"onnxruntime-node run failed: {proc.stderr.strip()[-2000:]}")
        y = np.fromfile(out, "<f4")
    return y.reshape(x.shape[0], -1)


FEEDS_SCRIPT = Path(__file__).resolve().with_name("ort_feeds.cjs")


def run_feeds(onnx_path: Path, feeds: Dict[str, "object"], output_name: str, node_modules: Optional[str] = None,
              timeout_s: int = 600):
    """Output `output_name` of `onnx_path` on several named inputs (NumPy arrays: float ->
    float32, integer -> int64), one onnxruntime-node run, as a float32 array of its shape."""
    import tempfile

    import numpy as np

    node, nm = preflight(node_modules)
    with tempfile.TemporaryDirectory() as d:
        spec = {"inputs": {}, "output": output_name}
        for k, (name, x) in enumerate(feeds.items()):
            x = np.asarray(x)
            dtype = "int64" if x.dtype.kind in "iu" else "float32"
            f = Path(d) / f"in{k}.bin"
            np.ascontiguousarray(x, dtype="<i8" if dtype == "int64" else "<f4").tofile(f)
            spec["inputs"][name] = {"file": str(f), "dims": list(x.shape), "dtype": dtype}
        (Path(d) / "spec.json").write_text(json.dumps(spec))
        out = Path(d) / "out.f32"
        proc = subprocess.run([node, str(FEEDS_SCRIPT), str(nm), str(onnx_path), str(Path(d) / "spec.json"), str(out)],
                              capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode != 0:
            raise RuntimeError(f"onnxruntime-node run failed: {proc.stderr.strip()[-2000:]}")
        dims = json.loads(proc.stdout.strip().splitlines()[-1])["dims"]
        return np.fromfile(out, "<f4").reshape(dims)
