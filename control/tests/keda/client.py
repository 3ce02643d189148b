#!/usr/bin/env python3
"""KEDA's side of the external scaler API, for control/tests/grpc_api.rs.

Generates the Python stubs from the vendored externalscaler.proto with grpcio-tools (the same
proto KEDA compiles its Go client from), then runs the calls given as JSON on stdin and prints
one JSON answer per call: {"ok": <response as dict>} or {"error": "<grpc status code name>",
"details": "..."}. Connection: plaintext, or TLS with --ca (and --cert/--key for a client
certificate, as KEDA's TriggerAuthentication `tls: enable` does).

    echo '[{"call": "IsActive", "ref": {...}}]' | client.py --addr 127.0.0.1:6000 --proto control/proto
"""
import argparse
import importlib
import json
import sys
import tempfile

import grpc
from google.protobuf.json_format import MessageToDict
from grpc_tools import protoc


def load_stubs(proto_dir: str):
    out = tempfile.mkdtemp(prefix="keda-stubs-")
    code = protoc.main(["grpc_tools.protoc", f"-I{proto_dir}", f"--python_out={out}",
                        f"--grpc_python_out={out}", "externalscaler.proto"])
    if code != 0:
        raise SystemExit(f"protoc failed with {code}")
    sys.path.insert(0, out)
    return importlib.import_module("externalscaler_pb2"), importlib.import_module("externalscaler_pb2_grpc")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("--proto", required=True)
    parser.add_argument("--ca")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--server-name", default="localhost")
    args = parser.parse_args()
    pb, pb_grpc = load_stubs(args.proto)

    if args.ca:
        read = lambda p: open(p, "rb").read() if p else None
        creds = grpc.ssl_channel_credentials(root_certificates=read(args.ca), private_key=read(args.key),
                                             certificate_chain=read(args.cert))
        channel = grpc.secure_channel(args.addr, creds, options=[("grpc.ssl_target_name_override", args.server_name)])
    else:
        channel = grpc.insecure_channel(args.addr)
    stub = pb_grpc.ExternalScalerStub(channel)

    answers = []
    for item in json.load(sys.stdin):
        ref = pb.ScaledObjectRef(name=item["ref"].get("name", "so"), namespace=item["ref"].get("namespace", "jobs"),
                                 scalerMetadata=item["ref"].get("metadata", {}))
        try:
            if item["call"] == "IsActive":
                answer = stub.IsActive(ref, timeout=10)
            elif item["call"] == "GetMetricSpec":
                answer = stub.GetMetricSpec(ref, timeout=10)
            elif item["call"] == "GetMetrics":
                answer = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref, metricName=item.get("metricName", "")),
                                         timeout=10)
            elif item["call"] == "StreamIsActive":
                stream = stub.StreamIsActive(ref, timeout=10)
                answer = next(stream)
                stream.cancel()
            else:
                raise SystemExit(f"unknown call {item['call']}")
            answers.append({"ok": MessageToDict(answer, always_print_fields_with_no_presence=True)})
        except grpc.RpcError as e:
            answers.append({"error": e.code().name, "details": e.details()})
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
