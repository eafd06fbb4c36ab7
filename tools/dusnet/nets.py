"""The three PyTorch modules of one part (field, Down-Net, Up-Net) and a PyTorch stand-in for
`reference.Model`, so training can measure the reconstruction through the same inference path."""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn

from .down_net import DownNet
from .field import Field
from .indices import NAMES, up_indices
from .recon_error import template_errors
from .reference import Model
from .up_net import UpNet

NET_DEFAULTS = {"dense": [16, 32, 64], "plane": 256, "channels": 4, "hidden": 64, "patch_dim": 16,
                "patch_drop": 0.5, "spread": 1.3, "project_steps": 3}


def build_nets(cfg: dict) -> nn.ModuleDict:
    """field + down + up sharing one field (its parameters appear under all three keys)."""
    c = {**NET_DEFAULTS, **cfg}
    field = Field(tuple(c["dense"]), c["plane"], c["channels"], c["hidden"])
    down = DownNet(field, c["patch_dim"], c["patch_drop"])
    up = UpNet(field, c["up_ratio"], c["spread"], c["project_steps"])
    return nn.ModuleDict({"field": field, "down": down, "up": up})


class TorchModel(Model):
    """`reference.Model` (registration, grouping, Down-Net inputs) with the PyTorch nets in place
    of the ONNX graphs. Built from memory, not from a model folder."""

    def __init__(self, nets: nn.ModuleDict, reference: np.ndarray, center, scale: float, cfg: dict,
                 device="cpu"):  # noqa: super().__init__ reads a folder; set its fields directly
        self.nets, self.device = nets, device
        self.points, self.groups, self.k = cfg["points"], cfg["groups"], cfg["group_size"]
        self.gamma, self.s = cfg["up_ratio"], cfg["up_neighbours"]
        self.passes = cfg.get("passes", 1)
        self.register, self.center, self.scale = True, list(center), float(scale)
        self.reference = np.asarray(reference, dtype=np.float64)
        self.ref_tree = cKDTree(self.reference)

    def _t(self, x):
        return torch.from_numpy(np.ascontiguousarray(x)).to(self.device)

    @torch.no_grad()
    def run_down(self, centers, patches):
        return self.nets["down"](self._t(centers), self._t(patches)).cpu().numpy()

    @torch.no_grad()
    def run_up(self, pred):
        idx = up_indices(pred, self.s)
        feeds = {"centers": pred.astype(np.float32), **{k: idx[k] for k in NAMES}}
        out = self.nets["up"](*[self._t(feeds[k]) for k in ["centers"] + NAMES])
        return out.cpu().numpy(), feeds


def torch_errors(nets: nn.ModuleDict, reference, center, scale: float, cfg: dict, templates_raw,
                 device="cpu") -> dict:
    """Both-way held-out reconstruction error (mm) of the PyTorch nets, whole inference path."""
    nets.eval()
    return template_errors(TorchModel(nets, reference, center, scale, cfg, device), templates_raw, scale)
