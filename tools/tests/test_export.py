import os

import numpy as np
import onnx
import torch
import torch.nn.functional as F

from export import DOWN_IN, DOWN_OUT, UP_IN, UP_OUT, export_onnx
from dusnet.down_net import DownNet
from dusnet.field import EXTENT, PLANES, Field, grid_coords, lerp_table
from dusnet.indices import NAMES, up_indices
from dusnet.recon_error import held_out_mask, plane_distance
from dusnet.up_net import UpNet, local_spacing


def _ort(path, feeds, out):
    import onnxruntime as ort
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run([out], feeds)[0]


def _points(n, seed, scale=1.4):
    """Random points, some outside the grid cube (border clamping)."""
    return (torch.rand(n, 3, generator=torch.Generator().manual_seed(seed)) * 2 - 1) * scale * EXTENT


def test_trilinear_lookup_matches_grid_sample():
    torch.manual_seed(0)
    res, c = 8, 3
    table = torch.randn(res ** 3, c)
    x = _points(500, 1)
    got = lerp_table(table, res, grid_coords(x, res))
    vol = table.reshape(res, res, res, c).permute(3, 2, 1, 0)[None]  # [1, C, D=z, H=y, W=x]
    ref = F.grid_sample(vol, (x / EXTENT)[None, None, None], mode="bilinear", padding_mode="border",
                        align_corners=True)[0, :, 0, 0].T
    assert torch.allclose(got, ref, atol=1e-5)


def test_bilinear_plane_lookup_matches_grid_sample():
    torch.manual_seed(0)
    res, c = 16, 4
    table = torch.randn(res ** 2, c)
    x = _points(500, 2)
    for axes in PLANES:
        xy = x[:, list(axes)]
        got = lerp_table(table, res, grid_coords(xy, res))
        img = table.reshape(res, res, c).permute(2, 1, 0)[None]  # [1, C, H=second, W=first]
        ref = F.grid_sample(img, (xy / EXTENT)[None, None], mode="bilinear", padding_mode="border",
                            align_corners=True)[0, :, 0].T
        assert torch.allclose(got, ref, atol=1e-5)


def _tiny_nets():
    torch.manual_seed(0)
    field = Field(dense=(4, 8), plane=16, channels=2, hidden=8)
    for p in field.grid_parameters():
        p.data.normal_(0, 0.5)
    down = DownNet(field, patch_dim=4)
    up = UpNet(field, gamma=4, spread=1.3, project_steps=2)
    for p in up.res.head.parameters():  # exercise the residual branch (it starts at zero)
        p.data.normal_(0, 0.1)
    for p in down.head[0].parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    return field, down.eval(), up.eval()


def test_down_net_starts_as_field_projection():
    field, down, _ = _tiny_nets()
    down.start_from_field()
    c = torch.randn(2, 16, 3) * 0.5
    p = torch.randn(2, 16, 8, 3) * 0.05
    with torch.no_grad():
        assert torch.allclose(down(c, p), field.project(c), atol=1e-6)


def test_local_spacing_on_a_square_lattice():
    s = 0.05
    g = np.stack(np.meshgrid(np.arange(16), np.arange(16)), -1).reshape(-1, 2) * s
    c = np.concatenate([g, np.zeros((len(g), 1))], 1).astype(np.float32)[None]
    idx = up_indices(c, 16)
    h = local_spacing(torch.from_numpy(c), *[torch.from_numpy(idx[k]) for k in
                                             ("l1_index", "l1_group", "l1_interp_index", "l1_interp_weight")])
    inner = ((g > 3 * s) & (g < 12 * s)).all(1)
    assert abs(float(h[0, inner, 0].median()) / s - 1.0) < 0.15


def test_tiny_export_parity_dynamic_batch_fp16_tables(tmp_path):
    field, down, up = _tiny_nets()
    field.half_storage()
    g, k, gamma = 32, 8, 4
    export_onnx(down, (torch.zeros(2, g, 3), torch.zeros(2, g, k, 3)), DOWN_IN, DOWN_OUT,
                str(tmp_path / "down.onnx"))
    rng = np.random.default_rng(0)
    c = (rng.normal(size=(2, g, 3)) * 0.4).astype(np.float32)
    idx = up_indices(c, 4)
    export_onnx(up, tuple([torch.from_numpy(c)] + [torch.from_numpy(idx[n]) for n in NAMES]),
                UP_IN, UP_OUT, str(tmp_path / "up.onnx"))
    for name, ins in (("down.onnx", DOWN_IN), ("up.onnx", UP_IN)):
        m = onnx.load(str(tmp_path / name))
        assert [i.name for i in m.graph.input] == ins  # every contract input is a real graph input
        assert m.opset_import[0].version == 17
        assert not {n.op_type for n in m.graph.node} & {"GridSample", "Einsum", "Loop", "If"}
        big = [t for t in m.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
        assert big, "feature tables are stored in fp16"
    for b in (1, 3):  # dynamic batch
        c = (rng.normal(size=(b, g, 3)) * 0.4).astype(np.float32)
        p = (rng.normal(size=(b, g, k, 3)) * 0.05).astype(np.float32)
        with torch.no_grad():
            ref = down(torch.from_numpy(c), torch.from_numpy(p)).numpy()
        got = _ort(str(tmp_path / "down.onnx"), {"centers": c, "patches": p}, "pred_centers")
        assert got.shape == (b, g, 3) and np.abs(got - ref).max() < 1e-5
        feeds = {"centers": got, **up_indices(got, 4)}
        with torch.no_grad():
            ref_u = up(*[torch.from_numpy(feeds[n]) for n in UP_IN]).numpy()
        got_u = _ort(str(tmp_path / "up.onnx"), feeds, "points")
        assert got_u.shape == (b, g * gamma, 3) and np.abs(got_u - ref_u).max() < 1e-5


def test_held_out_mask_fixed_and_ten_percent():
    a, b = held_out_mask(1000, 2), held_out_mask(1000, 2)
    assert (a == b).all() and a.sum() == 100 and (a != held_out_mask(1000, 3)).any()


def test_plane_distance():
    rng = np.random.default_rng(0)
    plane = np.concatenate([rng.uniform(-1, 1, (2000, 2)), np.zeros((2000, 1))], 1)
    q = np.array([[0.1, 0.2, 0.3], [-0.4, 0.0, -0.05]])
    assert np.allclose(plane_distance(q, plane), [0.3, 0.05], atol=1e-9)
