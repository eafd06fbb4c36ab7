"""The learned position prior ("field"), shared by the Down-Net and the Up-Net.

A point x in the normalised frame is described by multi-resolution learnable feature grids: three
dense grids (16^3, 32^3, 64^3 cells) and a tri-plane (three 256^2 planes), 4 channels each, read by
trilinear / bilinear interpolation and concatenated with x into a small MLP (27-64-64-3) that
predicts a correction: project(x) = x + 0.05 * f(x) is x moved onto the part's surface.

Why grids and not a Fourier MLP: each training step only updates the cells near its points, so the
field converges in hundreds of steps on a CPU where an MLP needs many thousands (issue 10).
Why a tri-plane beside the dense grids: a 128^3 dense grid is 33 MB (too large for a model folder);
three 256^2 planes give sub-millimetre cells for 3 MB.

The lookup is written with floor / clamp / integer index arithmetic and a plain Gather (no
GridSample) so it exports at ONNX opset 17 and runs under TensorRT. Coordinates follow
`grid_sample(..., align_corners=True, padding_mode="border")`: the grid corners sit at -extent
and +extent, and points outside are clamped to the border."""
from __future__ import annotations

import itertools

import torch
from torch import nn

EXTENT = 1.25  # half-width of the grid cube in normalised units (the part lies within radius 1)
CORRECTION_SCALE = 0.05  # project(x) = x + 0.05 * f(x): small outputs, well-conditioned start


class MLP(nn.Sequential):
    """Linear layers with ReLU between them (and after the last one if act_last)."""

    def __init__(self, dims, act_last=False):
        layers = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2 or act_last:
                layers.append(nn.ReLU())
        super().__init__(*layers)


def grid_coords(x, res: int, extent: float = EXTENT):
    """Continuous cell coordinates u in [0, res-1] (align_corners=True, border clamp)."""
    u = (x / extent + 1.0) * (0.5 * (res - 1))
    return u.clamp(0.0, float(res - 1))


def lerp_table(table, res: int, u):
    """Multilinear interpolation of a flattened grid.

    table [res^D, C] holds the grid in row-major order of the D axes of u [N, D] (continuous cell
    coordinates, already clamped). Returns [N, C]. The lower corner is clamped to res-2 so that a
    point on the upper border uses the last cell with weight 1 on its upper corner."""
    d = u.shape[-1]
    i0 = torch.floor(u).clamp(0.0, float(res - 2))
    frac = u - i0
    i0 = i0.to(torch.int64)
    strides = [res ** (d - 1 - k) for k in range(d)]
    out = 0.0
    for corner in itertools.product((0, 1), repeat=d):
        idx = sum((i0[:, k] + corner[k]) * strides[k] for k in range(d))
        w = 1.0
        for k in range(d):
            w = w * (frac[:, k] if corner[k] else 1.0 - frac[:, k])
        out = out + table[idx] * w.unsqueeze(-1)
    return out


PLANES = ((0, 1), (0, 2), (1, 2))  # xy, xz, yz


class Field(nn.Module):
    """Feature grids + MLP; `project(x)` moves x onto the learned surface."""

    def __init__(self, dense=(16, 32, 64), plane=256, channels=4, hidden=64):
        super().__init__()
        self.dense_res = list(dense)
        self.plane_res = plane
        self.dense = nn.ParameterList(
            [nn.Parameter(torch.empty(r ** 3, channels).uniform_(-1e-4, 1e-4)) for r in dense])
        self.planes = nn.ParameterList(
            [nn.Parameter(torch.empty(plane ** 2, channels).uniform_(-1e-4, 1e-4)) for _ in PLANES]
            if plane else [])
        self.feat_dim = channels * (len(dense) + len(self.planes))
        self.in_dim = 3 + self.feat_dim
        self.mlp = MLP([self.in_dim, hidden, hidden, 3])

    @staticmethod
    def _table(p):
        """fp32 view of a table; half-precision storage (export) is cast back in the graph."""
        return p if p.dtype == torch.float32 else p.float()

    def features(self, x):
        """x [..., 3] -> [..., 3 + feat_dim]: the position and its grid features."""
        shape = x.shape[:-1]
        flat = x.reshape(-1, 3)
        feats = [flat]
        for res, tab in zip(self.dense_res, self.dense):
            feats.append(lerp_table(self._table(tab), res, grid_coords(flat, res)))
        for axes, tab in zip(PLANES, self.planes):
            u = grid_coords(flat[:, list(axes)], self.plane_res)
            feats.append(lerp_table(self._table(tab), self.plane_res, u))
        return torch.cat(feats, dim=-1).reshape(*shape, self.in_dim)

    def correction(self, x):
        """The displacement that projects x onto the surface (normalised units)."""
        return CORRECTION_SCALE * self.mlp(self.features(x))

    def project(self, x, steps: int = 1):
        for _ in range(steps):
            x = x + self.correction(x)
        return x

    def grid_parameters(self):
        return list(self.dense) + list(self.planes)

    def half_storage(self):
        """Store the tables in fp16 (export): halves the ONNX files, adds one Cast per table.
        The tables' values lie within +-1, where fp16 keeps 3 significant digits; the correction
        they feed is x 0.05, so the rounding moves points by ~1e-5 normalised units."""
        for plist in (self.dense, self.planes):
            for i, p in enumerate(plist):
                plist[i] = nn.Parameter(p.detach().half(), requires_grad=False)
        return self
