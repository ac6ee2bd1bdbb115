"""An independent KServe v2 gRPC client for the integration test (test/integration/kserve.test.ts).

Uses Debian's python3-grpcio and stubs generated from proto/kserve/grpc_predict_v2.proto with
grpc_tools.protoc (python3-grpc-tools) into --stubs. Calls every RPC of
inference.GRPCInferenceService once (ModelInfer with raw_input_contents, with typed
fp32_contents, with an encoded image as BYTES, and on an unknown model) and prints one JSON object.
Only the standard library besides grpc: the tensor is read as raw little-endian float32 bytes.
"""

import argparse
import json
import struct
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True, help="host:port of the gateway's gRPC server")
    parser.add_argument("--stubs", required=True, help="folder holding grpc_predict_v2_pb2*.py")
    parser.add_argument("--model", required=True)
    parser.add_argument("--tensor", required=True, help="file of little-endian float32 values, one input row")
    parser.add_argument("--shape", required=True, help="comma-separated shape of the tensor, batch first")
    parser.add_argument("--image", help="an encoded image sent as a BYTES input")
    args = parser.parse_args()

    sys.path.insert(0, args.stubs)
    import grpc
    import grpc_predict_v2_pb2 as pb
    import grpc_predict_v2_pb2_grpc as pb_grpc

    channel = grpc.insecure_channel(args.target)
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    out = {"grpcio": grpc.__version__}
    out["live"] = stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live
    out["ready"] = stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready
    out["model_ready"] = stub.ModelReady(pb.ModelReadyRequest(name=args.model), timeout=10).ready
    meta = stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=10)
    out["server"] = {"name": meta.name, "version": meta.version, "extensions": list(meta.extensions)}
    model = stub.ModelMetadata(pb.ModelMetadataRequest(name=args.model), timeout=10)
    tensors = lambda ts: [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in ts]
    out["model"] = {
        "name": model.name,
        "versions": list(model.versions),
        "platform": model.platform,
        "inputs": tensors(model.inputs),
        "outputs": tensors(model.outputs),
    }
    input_name = model.inputs[0].name
    output_name = model.outputs[0].name
    shape = [int(d) for d in args.shape.split(",")]
    with open(args.tensor, "rb") as f:
        raw = f.read()

    # Raw little-endian contents in, raw contents out.
    request = pb.ModelInferRequest(model_name=args.model, id="raw-1")
    request.inputs.add(name=input_name, datatype="FP32", shape=shape)
    request.outputs.add(name=output_name)
    request.raw_input_contents.append(raw)
    reply = stub.ModelInfer(request, timeout=30)
    o = reply.outputs[0]
    count = len(reply.raw_output_contents[0]) // 4
    out["raw"] = {
        "model_name": reply.model_name,
        "model_version": reply.model_version,
        "id": reply.id,
        "output": {"name": o.name, "datatype": o.datatype, "shape": list(o.shape)},
        "typed_contents": len(o.contents.fp32_contents),
        "values": list(struct.unpack("<%df" % count, reply.raw_output_contents[0])),
    }

    # Typed fp32_contents in, typed contents out.
    values = struct.unpack("<%df" % (len(raw) // 4), raw)
    request = pb.ModelInferRequest(model_name=args.model, model_version=model.versions[-1])
    request.inputs.add(name=input_name, datatype="FP32", shape=shape).contents.fp32_contents.extend(values)
    reply = stub.ModelInfer(request, timeout=30)
    out["typed"] = {"raw_outputs": len(reply.raw_output_contents), "values": list(reply.outputs[0].contents.fp32_contents)}

    # Triton's classification extension on an encoded image sent as BYTES.
    if args.image:
        with open(args.image, "rb") as f:
            image = f.read()
        request = pb.ModelInferRequest(model_name=args.model)
        request.inputs.add(name=input_name, datatype="BYTES", shape=[1]).contents.bytes_contents.append(image)
        request.outputs.add(name=output_name).parameters["classification"].int64_param = 3
        reply = stub.ModelInfer(request, timeout=30)
        o = reply.outputs[0]
        out["image"] = {"datatype": o.datatype, "shape": list(o.shape), "classes": [b.decode() for b in o.contents.bytes_contents]}

    # Errors arrive as gRPC status codes.
    errors = {}
    for what, request in [
        ("unknown_model", pb.ModelInferRequest(model_name="no-such-model")),
        ("bad_shape", pb.ModelInferRequest(model_name=args.model)),
    ]:
        if what == "bad_shape":
            request.inputs.add(name=input_name, datatype="FP32", shape=shape[:-1] + [shape[-1] + 1])
            request.raw_input_contents.append(raw)
        try:
            stub.ModelInfer(request, timeout=10)
            errors[what] = {"code": "OK"}
        except grpc.RpcError as e:
            errors[what] = {"code": e.code().name, "details": e.details()}
    out["errors"] = errors
    print(json.dumps(out))


if __name__ == "__main__":
    main()
