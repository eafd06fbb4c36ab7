"""Writes tests/data/broken-down.onnx: a Down-Net stand-in that loads but fails on every run.

It exists so a daemon integration test can make ONNX Runtime itself fail at run time (not at
load time, not in our own input checks) and check how the daemon reports and survives it.

The graph has exactly the Down-Net interface of models/<part>/model.toml [tensors] and
down.onnx: inputs `centers` float32 [batch, G, 3] and `patches` float32 [batch, G, K, 3], output
`pred_centers` float32 [batch, G, 3], batch dynamic, G = 512, K = 32 ([grouping] groups /
group_size), opset 17, IR version 8 (as the shipped exports). It passes onnx.checker (full
check) and ONNX Runtime loads it, but its first node reshapes `centers` to [7]: with the batch
axis dynamic this cannot be rejected at load time, and no real input (B * G * 3 elements) ever
has 7 elements, so every run() raises. Run from the repo root (needs only the `onnx` package):
    python tests/data/make_broken_model.py
"""
from pathlib import Path

import onnx
from onnx import TensorProto, helper

G, K = 512, 32  # models/bunny/model.toml [grouping] groups, group_size
OUT = Path(__file__).parent / "broken-down.onnx"


def main():
    f32 = TensorProto.FLOAT
    shape7 = helper.make_tensor("shape7", TensorProto.INT64, [1], [7])
    nodes = [
        helper.make_node("Reshape", ["centers", "shape7"], ["bad"]),  # fails: B*G*3 != 7
        helper.make_node("ReduceSum", ["bad"], ["bad_sum"], keepdims=1),  # [1], feeds the output
        # use `patches` too, so the input is part of the graph as in the real Down-Net
        helper.make_node("ReduceMean", ["patches"], ["pmean"], axes=[2], keepdims=0),
        helper.make_node("Add", ["centers", "pmean"], ["sum"]),
        helper.make_node("Add", ["sum", "bad_sum"], ["pred_centers"]),  # [B,G,3] + [1]
    ]
    graph = helper.make_graph(
        nodes, "broken_down_net",
        [helper.make_tensor_value_info("centers", f32, ["batch", G, 3]),
         helper.make_tensor_value_info("patches", f32, ["batch", G, K, 3])],
        [helper.make_tensor_value_info("pred_centers", f32, ["batch", G, 3])],
        initializer=[shape7])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="dus-edge tests/data/make_broken_model.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
