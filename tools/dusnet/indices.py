"""Up-Net index tensors from level-0 centers, exactly per models/README.md (numpy, batched)."""
from __future__ import annotations

import numpy as np

from .geometry import fps, knn

NAMES = ["l1_index", "l1_group", "l2_index", "l2_group", "l1_interp_index", "l1_interp_weight",
         "l2_interp_index", "l2_interp_weight"]


def interp(query: np.ndarray, level: np.ndarray):
    """3 nearest level points of each query point and w = 1/(d + 1e-8), normalised (f32)."""
    idx = knn(query, level, 3)
    q = np.asarray(query, dtype=np.float32)
    p = np.asarray(level, dtype=np.float32)[idx]  # [N, 3, 3]
    dx = p[..., 0] - q[:, None, 0]
    dy = p[..., 1] - q[:, None, 1]
    dz = p[..., 2] - q[:, None, 2]
    d = np.sqrt((dx * dx + dy * dy) + dz * dz)
    w = np.float32(1.0) / (d + np.float32(1e-8))
    w = w / ((w[:, 0] + w[:, 1]) + w[:, 2])[:, None]
    return idx, w.astype(np.float32)


def up_indices_one(centers: np.ndarray, s: int) -> dict:
    c0 = np.asarray(centers, dtype=np.float32)
    g = len(c0)
    l1_index = fps(c0, g // 2)
    c1 = c0[l1_index]
    l1_group = knn(c1, c0, s)
    l2_index = fps(c1, g // 4)
    c2 = c1[l2_index]
    l2_group = knn(c2, c1, s)
    i1, w1 = interp(c0, c1)
    i2, w2 = interp(c0, c2)
    return {"l1_index": l1_index, "l1_group": l1_group, "l2_index": l2_index,
            "l2_group": l2_group, "l1_interp_index": i1, "l1_interp_weight": w1,
            "l2_interp_index": i2, "l2_interp_weight": w2}


def up_indices(centers: np.ndarray, s: int) -> dict:
    """centers [B, G, 3] -> dict of batched index tensors (int64 / f32)."""
    items = [up_indices_one(c, s) for c in np.asarray(centers)]
    return {k: np.stack([it[k] for it in items]) for k in NAMES}
