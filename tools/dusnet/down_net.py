"""Down-Net (paper sec. 3.2, eq. 2-8): noisy patches + noisy centers -> clean centers.

E_p = PointNet(patch) (eq. 2), E_c = MLP(Fourier(c~)) (eq. 2), E_f = Decoder(Concat(E_c, E_p))
(eq. 3, a transformer over the G patch tokens), P~_c = Reshape(MLP(E_f)) (eq. 4).
Departures (see tools/README.md): patch mean removed inside the net, Fourier position features,
no residual on c~, patch-token masking during training, pairwise-aligned MSE/cosine."""
from __future__ import annotations

import math

import torch
from torch import nn


class MLP(nn.Sequential):
    def __init__(self, dims, act_last=False):
        layers = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2 or act_last:
                layers.append(nn.GELU())
        super().__init__(*layers)


class FourierFeatures(nn.Module):
    """[c, sin(2^l pi c), cos(2^l pi c)] for l in 0..L-1."""

    def __init__(self, n_freq: int = 8):
        super().__init__()
        self.register_buffer("freqs", (2.0 ** torch.arange(n_freq, dtype=torch.float32)) * math.pi,
                             persistent=False)
        self.out_dim = 3 + 6 * n_freq

    def forward(self, c):  # [B, G, 3]
        x = c.unsqueeze(-1) * self.freqs  # [B, G, 3, L]
        x = x.flatten(-2)
        return torch.cat([c, torch.sin(x), torch.cos(x)], dim=-1)


class PointNet(nn.Module):
    """Shared MLP + max-pool over the K points of a patch (eq. 2, E_p)."""

    def __init__(self, d: int):
        super().__init__()
        self.first = MLP([3, 64, 128], act_last=True)
        self.second = MLP([256, d])

    def forward(self, patches):  # [B, G, K, 3]
        f = self.first(patches)  # [B, G, K, 128]
        g = f.max(dim=2, keepdim=True).values.expand_as(f)
        f = self.second(torch.cat([f, g], dim=-1))
        return f.max(dim=2).values  # [B, G, d]


class Attention(nn.Module):
    """Plain multi-head self-attention (matmul + softmax only: exports to ONNX opset 17)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.h = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = torch.softmax((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // self.h)), dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.n1 = nn.LayerNorm(d)
        self.att = Attention(d, heads)
        self.n2 = nn.LayerNorm(d)
        self.ff = MLP([d, 2 * d, d])

    def forward(self, x):
        x = x + self.att(self.n1(x))
        return x + self.ff(self.n2(x))


class DownNet(nn.Module):
    def __init__(self, d: int = 128, layers: int = 3, heads: int = 4, n_freq: int = 8,
                 mask_ratio: float = 0.4):
        super().__init__()
        self.mask_ratio = mask_ratio
        self.pointnet = PointNet(d)
        self.fourier = FourierFeatures(n_freq)
        self.pos = MLP([self.fourier.out_dim, 256, 256, d])  # E_c: wide position MLP
        self.mask_token = nn.Parameter(torch.zeros(d))
        self.fuse = nn.Linear(2 * d, d)  # Concat(E_c, E_p) -> token
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(d)
        self.head = MLP([d, d, 3])  # eq. 4, absolute centers (no residual on c~)

    def forward(self, centers, patches):
        # remove each patch's own mean: the contract hands p~ - c~, whose mean reveals the
        # true surface offset of c~ (the "copy" shortcut); only the local shape is kept.
        patches = patches - patches.mean(dim=2, keepdim=True)
        e_p = self.pointnet(patches)
        if self.training and self.mask_ratio > 0:
            m = torch.rand(e_p.shape[:2], device=e_p.device) < self.mask_ratio
            e_p = torch.where(m.unsqueeze(-1), self.mask_token.expand_as(e_p), e_p)
        e_c = self.pos(self.fourier(centers))
        x = self.fuse(torch.cat([e_c, e_p], dim=-1))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x))


def chamfer_sq(a, b):
    """Eq. 7: symmetric mean squared nearest distance, a [B, N, 3], b [B, M, 3]."""
    d = torch.cdist(a, b) ** 2
    return d.min(dim=2).values.mean() + d.min(dim=1).values.mean()


def down_loss(pred, target):
    """Eq. 8: L_MSE + L_COS + L_CD, MSE and COS index-aligned (target i vs prediction i)."""
    mse = ((pred - target) ** 2).sum(-1).mean()
    cos = (1.0 - torch.nn.functional.cosine_similarity(pred, target, dim=-1, eps=1e-6)).mean()
    cd = chamfer_sq(pred, target)
    return mse + cos + cd, {"mse": mse.item(), "cos": cos.item(), "cd": cd.item()}
