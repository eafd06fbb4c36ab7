"""Up-Net (paper sec. 3.3, eq. 9-11): predicted centers -> dense reconstruction (G * gamma points).

Every center spreads gamma points around itself, and the shared field moves them onto the learned
surface:

  x_ik = c_i + h_i * (spread * T_i s_k + r_ik),   points = project^3(x_ik)  (three field steps)

- s_k: a fixed quasi-uniform pattern of gamma points in the unit ball;
- h_i: the local center spacing, computed in the graph from the index inputs: the RMS distance of
  each level-1 point to its S level-0 neighbours (`l1_group`), carried to level 0 by the 3-NN
  interpolation (`l1_interp_*`). `spread` > 1 spacing, so neighbouring spreads overlap and the
  reconstruction also reaches a little into holes and past broken rims;
- T_i: the tangent projector I - n n^T at c_i, read off the field itself (the Jacobian of the
  field's correction near the surface is -n n^T; central differences, no autograd in the graph),
  so the spread lies in the surface and thin walls do not receive points from their other side;
- r_ik: a learned residual from the paper's multi-scale features (F0 MLP, set abstraction over
  the l1 / l2 groups, 3-NN interpolation back to level 0, fusion of neighbouring scales); its last
  layer starts at zero, so an untrained Up-Net is the deterministic spread.
All gathers are torch.gather so the graph exports to ONNX without custom ops."""
from __future__ import annotations

import math

import torch
from torch import nn

from .field import MLP, Field

SPACING_PER_RMS = 1.0 / 1.6  # 16 nearest points of a uniform 2-D sampling: RMS radius = 1.6 spacings


def gather_points(x, idx):
    """x [B, N, C], idx [B, M] or [B, M, S] (int64) -> [B, M, C] or [B, M, S, C]."""
    b, _, c = x.shape
    flat = idx.reshape(b, -1)
    out = torch.gather(x, 1, flat.unsqueeze(-1).expand(-1, -1, c))
    return out.reshape(*idx.shape, c)


def ball_pattern(n: int) -> torch.Tensor:
    """n points spread evenly in the unit ball: Fibonacci directions, radii uniform in volume."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = k * math.pi * (3.0 - math.sqrt(5.0))
    rxy = torch.sqrt(1.0 - z * z)
    dirs = torch.stack([rxy * torch.cos(phi), rxy * torch.sin(phi), z], dim=-1)
    radii = (k / n) ** (1.0 / 3.0)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    return (dirs * radii[perm].unsqueeze(-1)).float()


def local_spacing(centers, l1_index, l1_group, l1_interp_index, l1_interp_weight):
    """h [B, G, 1]: center spacing around each center from the l1 groups (see module doc)."""
    p1 = gather_points(centers, l1_index)  # [B, G/2, 3]
    nb = gather_points(centers, l1_group)  # [B, G/2, S, 3]
    rms = ((nb - p1.unsqueeze(2)) ** 2).sum(-1).mean(-1, keepdim=True).sqrt()  # [B, G/2, 1]
    return tri_interp(rms, l1_interp_index, l1_interp_weight) * SPACING_PER_RMS


def tangent_projector(field: Field, centers, delta: float = 0.01):
    """I - n n^T at every center [B, G, 3, 3], from the symmetric Jacobian of the field's
    correction by central differences (J ~ -n n^T near the surface)."""
    eye = torch.eye(3, dtype=centers.dtype, device=centers.device)
    cols = []
    for k in range(3):
        step = delta * eye[k]
        cols.append((field.correction(centers + step) - field.correction(centers - step)) / (2 * delta))
    jac = torch.stack(cols, dim=-1)  # [B, G, 3 (component), 3 (direction)]
    return eye + 0.5 * (jac + jac.transpose(-1, -2))


class SetAbstraction(nn.Module):
    """Eq. 9: F_i^l = MaxPool_j MLP([p_j^{l-1} - p_i^l ; F_j^{l-1}])."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.mlp = MLP([3 + c_in, c_out, c_out], act_last=True)

    def forward(self, pts, feats, index, group):
        centers = gather_points(pts, index)
        x = torch.cat([gather_points(pts, group) - centers.unsqueeze(2), gather_points(feats, group)], -1)
        return centers, self.mlp(x).max(dim=2).values


def tri_interp(feats, index, weight):
    """Eq. 10: sum_j w_ij F_j over the 3 nearest (weights already normalised)."""
    return (gather_points(feats, index) * weight.unsqueeze(-1)).sum(dim=2)


class Residual(nn.Module):
    """The paper's multi-scale features (eq. 9-11) -> gamma residual offsets per center, in units
    of the local spacing. Positions enter relative to the center's spacing so the features do not
    depend on where the part is."""

    def __init__(self, gamma: int, c0: int = 32, c1: int = 64, c2: int = 128, width: int = 64):
        super().__init__()
        self.gamma = gamma
        self.f0 = MLP([3, c0, c0], act_last=True)
        self.sa1 = SetAbstraction(c0, c1)
        self.sa2 = SetAbstraction(c1, c2)
        self.conv0 = MLP([c0 + 3, width], act_last=True)
        self.conv1 = MLP([c1, width], act_last=True)
        self.conv2 = MLP([c2, width], act_last=True)
        self.fuse01 = MLP([2 * width, width], act_last=True)  # neighbouring scales, halved
        self.fuse12 = MLP([2 * width, width], act_last=True)
        self.head = MLP([2 * width, 2 * width, 3 * gamma])
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, centers, l1_index, l1_group, l2_index, l2_group,
                l1_interp_index, l1_interp_weight, l2_interp_index, l2_interp_weight):
        f0 = self.f0(centers)
        p1, f1 = self.sa1(centers, f0, l1_index, l1_group)
        _p2, f2 = self.sa2(p1, f1, l2_index, l2_group)
        f1u = self.conv1(tri_interp(f1, l1_interp_index, l1_interp_weight))
        f2u = self.conv2(tri_interp(f2, l2_interp_index, l2_interp_weight))
        a = self.fuse01(torch.cat([self.conv0(torch.cat([f0, centers], -1)), f1u], -1))
        b = self.fuse12(torch.cat([f1u, f2u], -1))
        off = self.head(torch.cat([a, b], -1))  # [B, G, 3 gamma]
        return off.reshape(*off.shape[:2], self.gamma, 3)


class UpNet(nn.Module):
    def __init__(self, field: Field, gamma: int = 32, spread: float = 1.3, project_steps: int = 3,
                 tangent: bool = True, residual: bool = True):
        super().__init__()
        self.field = field
        self.gamma = gamma
        self.spread = spread
        self.project_steps = project_steps  # ablations: 0 = no field projection
        self.tangent = tangent  # ablation: False = spread in a 3-D ball
        self.residual = residual  # ablation in PyTorch only: False = deterministic spread
        self.register_buffer("pattern", ball_pattern(gamma), persistent=False)
        self.res = Residual(gamma)

    def forward(self, centers, l1_index, l1_group, l2_index, l2_group,
                l1_interp_index, l1_interp_weight, l2_interp_index, l2_interp_weight):
        h = local_spacing(centers, l1_index, l1_group, l1_interp_index, l1_interp_weight)
        pattern = self.spread * self.pattern  # [gamma, 3]
        if self.tangent:
            proj = tangent_projector(self.field, centers)  # [B, G, 3, 3]
            off = torch.matmul(pattern, proj.transpose(-1, -2))  # [B, G, gamma, 3]; MatMul, not Einsum
        else:
            off = pattern.expand(*centers.shape[:2], -1, -1)
        if self.residual:
            off = off + self.res(centers, l1_index, l1_group, l2_index, l2_group,
                                 l1_interp_index, l1_interp_weight, l2_interp_index, l2_interp_weight)
        pts = centers.unsqueeze(2) + h.unsqueeze(2) * off
        pts = self.field.project(pts, self.project_steps)
        return pts.reshape(centers.shape[0], -1, 3)

    def trainable(self):
        return list(self.res.parameters())
