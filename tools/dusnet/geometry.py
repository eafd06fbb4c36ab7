"""Geometry shared with the Rust runtime (models/README.md): stride sampling, ICP, FPS, KNN,
normalisation. FPS and KNN follow the contract literally (f32, `(dx*dx + dy*dy) + dz*dz`,
first argmax, start index 0, ties by index) so both sides pick bit-identical indices."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

try:  # training's fast FPS only; looked up once, not at every Up-Net step
    import fpsample
except ImportError:  # a GPU machine with only the stock PyTorch
    fpsample = None

ICP_SAMPLE = 4096
ICP_ITERS = 50
ICP_KEEP = 0.9


def stride_indices(n: int, m: int) -> np.ndarray:
    """Indices floor(i * n / m), i in 0..m, if n > m; else all n points (integer arithmetic)."""
    if n > m:
        return (np.arange(m, dtype=np.int64) * n) // m
    return np.arange(n, dtype=np.int64)


def kabsch(src: np.ndarray, dst: np.ndarray):
    """R, t minimising |R src + t - dst| (f64), contract form with the reflection guard."""
    sb = src.mean(axis=0)
    rb = dst.mean(axis=0)
    h = (src - sb).T @ (dst - rb)
    u, _s, vt = np.linalg.svd(h)
    v = vt.T
    d = np.diag([1.0, 1.0, float(np.sign(np.linalg.det(v @ u.T)))])
    r = v @ d @ u.T
    return r, rb - r @ sb


def icp(scan: np.ndarray, reference: np.ndarray, ref_tree: cKDTree | None = None,
        iters: int = ICP_ITERS):
    """Trimmed point-to-point ICP in f64, exactly as models/README.md. Returns (R, t).
    Stops early once an iteration keeps exactly the pairs of the one before (every later step
    would be the identity)."""
    ref = np.asarray(reference, dtype=np.float64)
    s = np.asarray(scan, dtype=np.float64)[stride_indices(len(scan), ICP_SAMPLE)]
    tree = ref_tree if ref_tree is not None else cKDTree(ref)
    r = np.eye(3)
    t = ref.mean(axis=0) - s.mean(axis=0)
    m = len(s)
    keep_n = int(np.floor(ICP_KEEP * m))
    previous = None
    for _ in range(iters):
        moved = s @ r.T + t
        d, j = tree.query(moved)
        keep = np.argsort(d, kind="stable")[:keep_n]
        pairs = np.stack([keep, j[keep]])
        if previous is not None and np.array_equal(pairs, previous):
            break
        previous = pairs
        r2, t2 = kabsch(moved[keep], ref[j[keep]])
        r = r2 @ r
        t = r2 @ t + t2
    return r, t


def apply_rigid(pts: np.ndarray, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.asarray(pts, dtype=np.float64) @ r.T + t


def normalise(pts_f64: np.ndarray, center, scale: float) -> np.ndarray:
    """q = (p - center) / scale, computed in f64, returned as f32."""
    c = np.asarray(center, dtype=np.float64)
    return ((np.asarray(pts_f64, dtype=np.float64) - c) / float(scale)).astype(np.float32)


def sqdist_f32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise f32 squared distances (dx*dx + dy*dy) + dz*dz, shape [len(a), len(b)]."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    dx = b[None, :, 0] - a[:, None, 0]
    dy = b[None, :, 1] - a[:, None, 1]
    dz = b[None, :, 2] - a[:, None, 2]
    return (dx * dx + dy * dy) + dz * dz


def fps(points: np.ndarray, m: int, start: int = 0) -> np.ndarray:
    """Farthest point sampling, contract rule: start at `start` (0 unless a later grouping
    pass), f32 distances, first argmax."""
    p = np.ascontiguousarray(points, dtype=np.float32)
    n = len(p)
    if m > n:
        raise ValueError(f"FPS: {m} samples requested from {n} points")
    x, y, z = p[:, 0].copy(), p[:, 1].copy(), p[:, 2].copy()
    dist = np.full(n, np.inf, dtype=np.float32)
    out = np.empty(m, dtype=np.int64)
    cur = start
    for s in range(m):
        out[s] = cur
        dx = x - x[cur]
        dy = y - y[cur]
        dz = z - z[cur]
        np.minimum(dist, (dx * dx + dy * dy) + dz * dz, out=dist)
        cur = int(np.argmax(dist))
    return out


def knn(query: np.ndarray, data: np.ndarray, k: int, chunk: int = 128) -> np.ndarray:
    """Exact k nearest `data` points for every `query` point: ascending f32 squared distance,
    ties by index. Returns int64 [len(query), k]."""
    q = np.asarray(query, dtype=np.float32)
    d = np.asarray(data, dtype=np.float32)
    n = len(d)
    if k > n:
        raise ValueError(f"KNN: k={k} > {n} points")
    out = np.empty((len(q), k), dtype=np.int64)
    for s in range(0, len(q), chunk):
        dd = sqdist_f32(q[s:s + chunk], d)
        if k < n:
            part = np.argpartition(dd, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(n), dd.shape).copy()
        pd = np.take_along_axis(dd, part, axis=1)
        kth = pd.max(axis=1)
        order = np.lexsort((part, pd), axis=-1)
        res = np.take_along_axis(part, order, axis=1)
        # rows where more than k points are within the k-th distance: resolve ties by index
        n_le = (dd <= kth[:, None]).sum(axis=1)
        for r in np.nonzero(n_le > k)[0]:
            row = dd[r]
            res[r] = np.argsort(row, kind="stable")[:k]
        out[s:s + chunk] = res
    return out


def knn_fast(query: np.ndarray, data: np.ndarray, k: int, tree: cKDTree | None = None):
    """kd-tree KNN for training only (tie order not guaranteed)."""
    tree = tree if tree is not None else cKDTree(data)
    _, idx = tree.query(query, k=k)
    return idx.reshape(len(query), k).astype(np.int64)


def fps_fast(points: np.ndarray, m: int) -> np.ndarray:
    """Fast FPS for training augmentation (fpsample's bucket FPS; not contract-exact). Without
    fpsample (a GPU machine with only the stock PyTorch), the contract's exact FPS."""
    if fpsample is None:
        return fps(points, m)
    return np.asarray(fpsample.bucket_fps_kdline_sampling(
        np.ascontiguousarray(points, dtype=np.float32), m, h=5, start_idx=0), dtype=np.int64)


def random_rotation(max_deg: float, rng: np.random.Generator) -> np.ndarray:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    ang = np.deg2rad(rng.uniform(-max_deg, max_deg))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * (k @ k)
