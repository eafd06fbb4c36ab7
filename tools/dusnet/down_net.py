"""Down-Net (paper sec. 3.2, eq. 2-4): noisy centers + noisy patches -> clean centers.

  pred = c~ + 0.05 * head([c~, field features of c~, E_p(patch - mean(patch))])

E_c (the paper's position embedding) is the shared field's feature vector of the noisy center;
E_p a small PointNet of the patch; the head is the field's own MLP widened by the E_p inputs, so an
untrained Down-Net starts as exactly "project the center with the field".

Against the "copy" failure (tools/README.md): the prediction is a residual on c~, but the only
thing that knows where the true surface is, is the field (a function of c~ alone, learned on clean
templates). The patch enters mean-subtracted, i.e. as a shape that is the same wherever c~ sits,
so it cannot tell the net where the observed (possibly defective) surface is; and during training
the patch branch is dropped for a share of the centers so the field alone must carry the answer."""
from __future__ import annotations

import torch
from torch import nn

from .field import CORRECTION_SCALE, MLP, Field


class PatchEmbed(nn.Module):
    """E_p (eq. 2): shared MLP over the K mean-subtracted patch points, max-pool, linear."""

    def __init__(self, dim: int = 16, width: int = 32):
        super().__init__()
        self.point = MLP([3, width, 2 * width], act_last=True)
        self.out = nn.Linear(2 * width, dim)

    def forward(self, patches):  # [B, G, K, 3]
        local = patches - patches.mean(dim=2, keepdim=True)
        return self.out(self.point(local).max(dim=2).values)


@torch.no_grad()
def copy_widened(dst: MLP, src: MLP):
    """dst := src, where dst's first Linear takes extra inputs (after src's): zero weights there."""
    for a, b in zip(dst.parameters(), src.parameters()):
        a.zero_()
        a[tuple(slice(0, n) for n in b.shape)] = b


class DownNet(nn.Module):
    def __init__(self, field: Field, patch_dim: int = 16, patch_drop: float = 0.5):
        super().__init__()
        self.field = field
        self.patch_drop = patch_drop
        self.patch = PatchEmbed(patch_dim)
        self.head = MLP([field.in_dim + patch_dim] + [m.out_features for m in field.mlp
                                                       if isinstance(m, nn.Linear)])
        self.start_from_field()

    def start_from_field(self):
        """Head := the field's MLP (zero weight on E_p): the Down-Net starts as `field.project`."""
        copy_widened(self.head, self.field.mlp)

    def forward(self, centers, patches):
        e_p = self.patch(patches)
        if self.training and self.patch_drop > 0:
            keep = torch.rand(e_p.shape[:-1] + (1,), device=e_p.device) >= self.patch_drop
            e_p = e_p * keep
        x = torch.cat([self.field.features(centers), e_p], dim=-1)
        return centers + CORRECTION_SCALE * self.head(x)

    def trainable(self):
        """The Down-Net stage trains its head and patch branch; the field stays as learned."""
        return [p for n, p in self.named_parameters() if not n.startswith("field.")]
