"""The three PyTorch modules of one part (field, Down-Net, Up-Net) and a PyTorch stand-in for
`reference.Model`, so training can measure the reconstruction through the same inference path."""
from __future__ import annotations

import os

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


def nets_from_model(model_dir: str, cfg: dict) -> nn.ModuleDict:
    """The nets of a shipped model folder, rebuilt from its graphs' weights: the exporter names
    every ONNX initializer after its PyTorch parameter, so a part can be re-exported (a faster
    graph for the same weights) without its training checkpoint. Strict loading: a graph whose
    weights do not fit `cfg`'s nets is an error, not a silently different model."""
    import onnx
    from onnx import numpy_helper
    nets = build_nets(cfg)
    state, field = {}, {}
    for key in ("down", "up"):
        graph = onnx.load(os.path.join(model_dir, f"{key}.onnx")).graph
        for init in graph.initializer:
            value = torch.from_numpy(numpy_helper.to_array(init).astype(np.float32))
            state[f"{key}.{init.name}"] = value
            if init.name.startswith("field."):  # shared; the Down-Net graph holds only its tables
                field[init.name] = value
    for prefix in ("", "down.", "up."):
        state.update({prefix + name: value for name, value in field.items()})
    nets.load_state_dict(state, strict=True)
    return nets.eval()


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
