import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from export import DOWN_IN, DOWN_OUT, UP_IN, UP_OUT, export_onnx  # noqa: E402
from dusnet.down_net import DownNet  # noqa: E402
from dusnet.indices import NAMES, up_indices  # noqa: E402
from dusnet.up_net import UpNet  # noqa: E402


def _ort(path, feeds, out):
    import onnxruntime as ort
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run([out], feeds)[0]


def test_tiny_export_parity_dynamic_batch(tmp_path):
    torch.manual_seed(0)
    g, k, gamma = 32, 8, 4
    down = DownNet(d=32, layers=1, heads=2).eval()
    up = UpNet(gamma, c0=16, c1=16, c2=16, width=16).eval()
    export_onnx(down, (torch.zeros(2, g, 3), torch.zeros(2, g, k, 3)), DOWN_IN, DOWN_OUT,
                str(tmp_path / "down.onnx"))
    rng = np.random.default_rng(0)
    c = rng.normal(size=(2, g, 3)).astype(np.float32)
    idx = up_indices(c, 4)
    export_onnx(up, tuple([torch.from_numpy(c)] + [torch.from_numpy(idx[n]) for n in NAMES]),
                UP_IN, UP_OUT, str(tmp_path / "up.onnx"))
    for b in (1, 3):  # dynamic batch
        c = rng.normal(size=(b, g, 3)).astype(np.float32)
        p = (rng.normal(size=(b, g, k, 3)) * 0.05).astype(np.float32)
        with torch.no_grad():
            ref = down(torch.from_numpy(c), torch.from_numpy(p)).numpy()
        got = _ort(str(tmp_path / "down.onnx"), {"centers": c, "patches": p}, "pred_centers")
        assert got.shape == (b, g, 3) and np.abs(got - ref).max() < 1e-4
        idx = up_indices(got, 4)
        feeds = {"centers": got, **idx}
        with torch.no_grad():
            ref_u = up(*[torch.from_numpy(feeds[n]) for n in UP_IN]).numpy()
        got_u = _ort(str(tmp_path / "up.onnx"), feeds, "points")
        assert got_u.shape == (b, g * gamma, 3) and np.abs(got_u - ref_u).max() < 1e-4
