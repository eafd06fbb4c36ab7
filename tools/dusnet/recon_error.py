"""Reconstruction error on held-out clean template points, both ways, in scan units (mm).

10 % of every template's points (fixed seed) are never trained on. A template is run through the
whole inference path (contract ICP to reference.pcd, normalise, stride sample, FPS, KNN, Down-Net,
Up-Net: the methods of `reference.Model`, on ONNX or on the PyTorch nets), then
- forward: each held-out point's distance to the local plane of the reconstruction's 16 nearest
  points (PCA plane through their centroid): is the clean surface reproduced?
- back: each reconstruction point's distance to the local plane of the template's 16 nearest
  points (held-out and trained): does the reconstruction stay on the surface?
Distances to a local plane, not to the nearest point, so that the sampling density of either cloud
does not count as error (findings: resampling gaps otherwise dominate)."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

HELD_OUT = 0.1
PLANE_K = 16


def held_out_mask(n: int, template_index: int, frac: float = HELD_OUT, seed: int = 1234) -> np.ndarray:
    """Boolean mask of the held-out points of template `template_index` (n points, file order)."""
    rng = np.random.default_rng(seed + template_index)
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:int(round(frac * n))]] = True
    return mask


def plane_distance(query: np.ndarray, cloud: np.ndarray, k: int = PLANE_K) -> np.ndarray:
    """Distance of each query point to the PCA plane of its k nearest cloud points."""
    cloud = np.asarray(cloud, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    _, idx = cKDTree(cloud).query(q, k=k)
    nb = cloud[idx]  # [N, k, 3]
    mu = nb.mean(axis=1)
    d = nb - mu[:, None]
    _, vecs = np.linalg.eigh(np.einsum("nki,nkj->nij", d, d))
    normal = vecs[:, :, 0]  # eigenvector of the smallest eigenvalue
    return np.abs(((q - mu) * normal).sum(axis=1))


def summarise(fwd_mm: np.ndarray, back_mm: np.ndarray) -> dict:
    return {"recon_median_mm": float(np.median(fwd_mm)), "recon_p99_mm": float(np.percentile(fwd_mm, 99)),
            "recon_back_median_mm": float(np.median(back_mm)),
            "recon_back_p99_mm": float(np.percentile(back_mm, 99))}


def reconstruct(model, scan: np.ndarray):
    """The inference path of `reference.Model` up to the reconstruction (noise off).
    Returns (q: the scan registered and normalised, recon [passes*G*gamma, 3], pred_centers of all passes)."""
    q = model.register_scan(scan)
    centers, neighbours = model.group(q)
    c, p = model.down_inputs(centers, neighbours)
    pred = model.run_down(c, p)
    return q, model.reconstructions(pred)[0], pred.reshape(-1, 3)


def template_errors(model, templates_raw, scale: float) -> dict:
    """Both-way errors (mm) pooled over the templates (raw files, file order)."""
    fwd, back = [], []
    for i, raw in enumerate(templates_raw):
        q, recon, _ = reconstruct(model, raw)
        held = held_out_mask(len(raw), i)
        fwd.append(plane_distance(q[held], recon) * scale)
        back.append(plane_distance(recon, q) * scale)
    return summarise(np.concatenate(fwd), np.concatenate(back))
