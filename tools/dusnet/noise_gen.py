"""Noise-Gen (paper eq. 1): GSN(c_i, alpha) on centers, GSN(N_K(c_i), beta) on neighbours."""
from __future__ import annotations

import numpy as np


def noise_gen(centers: np.ndarray, neighbours: np.ndarray, alpha, beta, rng: np.random.Generator):
    """centers [..., G, 3], neighbours [..., G, K, 3] (absolute, normalised frame).

    alpha / beta may be scalars or per-batch arrays (broadcast over the leading axis).
    Returns (c~, patches = p~ - c~) in float32, the Down-Net input layout of the contract."""
    centers = np.asarray(centers, dtype=np.float32)
    neighbours = np.asarray(neighbours, dtype=np.float32)
    a = np.asarray(alpha, dtype=np.float32)
    b = np.asarray(beta, dtype=np.float32)
    if a.ndim == 1:
        a = a.reshape(-1, *([1] * (centers.ndim - 1)))
    if b.ndim == 1:
        b = b.reshape(-1, *([1] * (neighbours.ndim - 1)))
    c_t = centers + a * rng.standard_normal(centers.shape).astype(np.float32)
    p_t = neighbours + b * rng.standard_normal(neighbours.shape).astype(np.float32)
    return c_t.astype(np.float32), (p_t - c_t[..., None, :]).astype(np.float32)
