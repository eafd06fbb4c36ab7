"""Up-Net (paper sec. 3.3, eq. 9-14): predicted centers -> dense reconstruction (G * gamma).

Set abstraction (eq. 9) at scales 1, 1/2, 1/4 driven by the index tensors of the contract,
3-NN inverse-distance interpolation back to level 0 (eq. 10, weights given as inputs), three 1x1
conv stacks, fusion of neighbouring scales, MLPs predicting gamma offsets per center (eq. 11).
All gathers are torch.gather so the graph exports to ONNX without custom ops."""
from __future__ import annotations

import torch
from torch import nn

from .down_net import MLP


def gather_points(x, idx):
    """x [B, N, C], idx [B, M] or [B, M, S] (int64) -> [B, M, C] or [B, M, S, C]."""
    b, _, c = x.shape
    flat = idx.reshape(b, -1)
    out = torch.gather(x, 1, flat.unsqueeze(-1).expand(-1, -1, c))
    return out.reshape(*idx.shape, c)


class SetAbstraction(nn.Module):
    """Eq. 9: F_i^l = MaxPool_j MLP([p_j^{l-1} - p_i^l ; F_j^{l-1}])."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.mlp = MLP([3 + c_in, c_out, c_out], act_last=True)

    def forward(self, pts, feats, index, group):
        centers = gather_points(pts, index)  # [B, M, 3]
        nb_p = gather_points(pts, group)  # [B, M, S, 3]
        nb_f = gather_points(feats, group)  # [B, M, S, C]
        x = torch.cat([nb_p - centers.unsqueeze(2), nb_f], dim=-1)
        return centers, self.mlp(x).max(dim=2).values


def tri_interp(feats, index, weight):
    """Eq. 10: sum_j w_ij F_j over the 3 nearest (weights already normalised)."""
    return (gather_points(feats, index) * weight.unsqueeze(-1)).sum(dim=2)


def convs(c_in, c_out):
    """3-layer 1x1 convolution (as Linear layers over the channel axis)."""
    return MLP([c_in, c_out, c_out, c_out], act_last=True)


class UpNet(nn.Module):
    def __init__(self, gamma: int = 16, c0: int = 64, c1: int = 128, c2: int = 256,
                 width: int = 128, offset_scale: float = 0.05):
        super().__init__()
        self.gamma = gamma
        self.offset_scale = offset_scale
        self.f0 = MLP([3, c0, c0], act_last=True)
        self.sa1 = SetAbstraction(c0, c1)
        self.sa2 = SetAbstraction(c1, c2)
        self.conv0 = convs(c0 + 3, width)
        self.conv1 = convs(c1, width)
        self.conv2 = convs(c2, width)
        self.fuse01 = MLP([2 * width, width], act_last=True)  # near scales, halve dims
        self.fuse12 = MLP([2 * width, width], act_last=True)
        self.head = MLP([2 * width, 256, 256, 3 * gamma])

    def forward(self, centers, l1_index, l1_group, l2_index, l2_group,
                l1_interp_index, l1_interp_weight, l2_interp_index, l2_interp_weight):
        f0 = self.f0(centers)
        p1, f1 = self.sa1(centers, f0, l1_index, l1_group)
        _p2, f2 = self.sa2(p1, f1, l2_index, l2_group)
        f1u = tri_interp(f1, l1_interp_index, l1_interp_weight)
        f2u = tri_interp(f2, l2_interp_index, l2_interp_weight)
        a = self.fuse01(torch.cat([self.conv0(torch.cat([f0, centers], -1)), self.conv1(f1u)], -1))
        b = self.fuse12(torch.cat([self.conv1(f1u), self.conv2(f2u)], -1))
        off = self.head(torch.cat([a, b], -1))  # [B, G, 3 gamma]
        bsz, g, _ = off.shape
        pts = centers.unsqueeze(2) + self.offset_scale * off.reshape(bsz, g, self.gamma, 3)
        return pts.reshape(bsz, g * self.gamma, 3)


def up_loss(points, gt_local, nb_centers, gamma: int, h: float = 0.03, w_rep: float = 0.2,
            rep_k: int = 4):
    """Eq. 12-14 made local and two-way.

    points [B, G*gamma, 3]; gt_local [B, G, Kg, 3] = the Kg nearest ground-truth points of every
    predicted center; nb_centers [B, G, M] = every center's M nearest centers (itself first).
    - eq. 13 (output -> GT): L1 distance of each output point to its nearest GT point near its center
    - reverse (GT -> output): each local GT point to the nearest output point of the M centers around
    - eq. 12 repulsion: -d exp(-d^2/h^2) over the rep_k nearest other outputs in the same region
    """
    b, n, _ = points.shape
    g = n // gamma
    pts = points.reshape(b, g, gamma, 3)
    d_og = torch.cdist(pts.reshape(b * g, gamma, 3), gt_local.reshape(b * g, -1, 3))
    l_og = d_og.min(dim=2).values.mean()
    flat = pts.reshape(b, g, gamma * 3)
    local = gather_points(flat, nb_centers).reshape(b * g, -1, 3)  # [B*G, M*gamma, 3]
    d_go = torch.cdist(gt_local.reshape(b * g, -1, 3), local)
    l_go = d_go.min(dim=2).values.mean()
    d_rep = torch.cdist(pts.reshape(b * g, gamma, 3), local)  # own points are the first gamma
    d_rep = d_rep + torch.eye(gamma, local.shape[1], device=points.device) * 1e3
    dk = torch.topk(d_rep, rep_k, dim=2, largest=False).values
    l_rep = (-dk * torch.exp(-(dk / h) ** 2)).mean()
    loss = l_og + l_go + w_rep * l_rep
    return loss, {"o2g": l_og.item(), "g2o": l_go.item(), "rep": l_rep.item()}
