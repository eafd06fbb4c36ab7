"""Whole DUS-Net inference in Python on the exported ONNX graphs (the graphs Rust runs).

  python -m dusnet.reference SCAN --model models/<part> [--json]

Steps (models/README.md): read scan -> ICP to reference.pcd -> normalise -> stride sample -> FPS
-> KNN patches -> (optional Noise-Gen) -> Down-Net -> Up-Net indices -> Up-Net -> scoring
(the paper's eq. 15-17 or the surface rule, as model.toml [scoring] says) -> verdict."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib

import numpy as np
from scipy.spatial import cKDTree

from .geometry import apply_rigid, fps, icp, knn, normalise, stride_indices
from .indices import NAMES, up_indices
from .io import read_pcd


def score_points(q: np.ndarray, normality: np.ndarray, scoring: dict, scale: float = 1.0,
                 cache: dict | None = None, complete: np.ndarray | None = None) -> np.ndarray:
    """Point scores in scan units, by the rule of `model.toml [scoring]` (models/README.md
    "Scoring"): the paper's (eq. 15, two-way, eq. 16) or the surface rule. `q` and `normality`
    share a frame whose unit is `scale` scan units. Missing material is judged against
    `complete` (DUS-Net: its reconstruction of the reference), else against `normality`.
    `cache` keeps the normality cloud's k-d tree and planes between calls on the same cloud."""
    if scoring.get("rule", "paper") == "paper":
        s = paper_scores(q, normality, scoring.get("two_way", False), scoring.get("weighting", False))
    else:
        s = surface_scores(q, normality, {**SURFACE_DEFAULTS, **scoring}, scale, cache,
                           normality if complete is None else complete)
    return s * scale


SURFACE_DEFAULTS = {"surface_neighbours": 24, "smoothing": 16, "missing_material": True,
                    "partial_scans": False, "missing_gap": 4.0, "missing_support": 8,
                    "missing_radius": 3.0,
                    "missing_sample": 16384, "top_points": 10}


def paper_scores(q, recon, two_way, weighting):
    """Eq. 15, the two-way missing-material term, eq. 16; frame units."""
    tree_r = cKDTree(recon.astype(np.float64))
    k = 3 if weighting else 1
    d, _ = tree_r.query(q.astype(np.float64), k=k)
    d = d.reshape(len(q), k)
    s = d[:, 0].copy()
    if two_way:
        m, i = cKDTree(q.astype(np.float64)).query(recon.astype(np.float64))
        a = np.zeros(len(q))
        np.maximum.at(a, i, m)
        s = np.maximum(s, a)
    if weighting:
        e = np.exp(d)
        s *= 1.0 - e[:, 0] / e.sum(axis=1)
    return s


def local_planes(points: np.ndarray, k: int):
    """k-d tree, and per point the centroid and unit normal (smallest-eigenvalue eigenvector of
    the covariance) of its k nearest points, itself included."""
    pts = points.astype(np.float64)
    tree = cKDTree(pts)
    k = min(k, len(pts))
    if k == 0:
        return tree, None, None
    _, idx = tree.query(pts, k=k)
    nb = pts[idx.reshape(len(pts), k)]
    mu = nb.mean(axis=1)
    c = nb - mu[:, None]
    _, vec = np.linalg.eigh(np.einsum("nki,nkj->nij", c, c))
    return tree, mu, vec[:, :, 0]


def surface_scores(q, normality, sc, scale, cache, complete):
    """The surface rule in frame units: distance to the local plane at the nearest normality
    point, mean over the scan's `smoothing` nearest points, raised by missing material."""
    key = ("planes", sc["surface_neighbours"])
    if cache is None or key not in cache:
        planes = local_planes(normality, sc["surface_neighbours"])
        if cache is not None:
            cache[key] = planes
    else:
        planes = cache[key]
    tree_n, mu, normal = planes
    q64 = q.astype(np.float64)
    d, j = tree_n.query(q64)
    if mu is not None:
        d = np.abs(((q64 - mu[j]) * normal[j]).sum(axis=1))
    tree_q = cKDTree(q64)
    k = min(max(sc["smoothing"], 2), len(q64))
    dd, ii = tree_q.query(q64, k=k)
    dd, ii = dd.reshape(len(q64), k), ii.reshape(len(q64), k)
    s = d[ii[:, :min(sc["smoothing"], k)]].mean(axis=1)
    if sc["missing_material"] and not sc["partial_scans"]:
        spacing = np.sort(dd[:, 1])[(len(q64) - 1) // 2] if k > 1 else 0.0
        s = np.maximum(s, missing_excess(tree_q, complete, sc, spacing, scale, len(q64)))
    return s


def missing_excess(tree_q, normality, sc, spacing, scale, n):
    """Per scan point: the largest gap beyond `missing_gap` spacings of the missing normality
    points (a stride sample of at most `missing_sample`, each with `missing_support` missing
    points within `missing_gap` spacings) within `missing_radius` scan units."""
    cand = normality[stride_indices(len(normality), sc["missing_sample"])].astype(np.float64)
    allowed = sc["missing_gap"] * spacing
    m, _ = tree_q.query(cand)
    miss = m > allowed
    a = np.zeros(n)
    if miss.any():
        gone = cand[miss]
        support = np.array([len(x) for x in cKDTree(gone).query_ball_point(gone, allowed)])
        keep = support >= sc["missing_support"]
        for near, excess in zip(tree_q.query_ball_point(gone[keep], sc["missing_radius"] / scale),
                                (m[miss] - allowed)[keep]):
            if near:
                a[near] = np.maximum(a[near], excess)
    return a


def object_score(s: np.ndarray, scoring: dict) -> float:
    """Mean of the `top_points` highest point scores (surface rule); the maximum, eq. 17 (paper)."""
    top = 1 if scoring.get("rule", "paper") == "paper" else scoring.get("top_points", 10)
    top = max(1, min(top, len(s)))
    return float(np.sort(s)[-top:].mean())


def at_scan_density(q: np.ndarray, density, score, scoring: dict):
    """Rust `scoring::at_scan_density`: a scan with more than twice `density` (`[scan] points`)
    points is scored on its stride sample of `density` points; every point takes the score of
    its nearest sampled point and the object score is the sample's. Returns (point scores,
    object score)."""
    if density and len(q) > 2 * density:
        sample = q[stride_indices(len(q), density)]
        s = score(sample)
        return s[cKDTree(sample).query(q)[1]], object_score(s, scoring)
    s = score(q)
    return s, object_score(s, scoring)


class Model:
    def __init__(self, model_dir: str, providers=None):
        import onnxruntime as ort
        self.dir = model_dir
        with open(os.path.join(model_dir, "model.toml"), "rb") as f:
            self.cfg = tomllib.load(f)
        g = self.cfg["grouping"]
        self.points, self.groups, self.k = g["points"], g["groups"], g["group_size"]
        self.gamma, self.s = g["up_ratio"], g["up_neighbours"]
        self.passes = g.get("passes", 1)
        self.density = self.cfg.get("scan", {}).get("points")  # the density scores hold at
        nrm = self.cfg["normalisation"]
        self.register, self.center, self.scale = nrm["register"], nrm["center"], nrm["scale"]
        files = self.cfg["files"]
        self.reference = read_pcd(os.path.join(model_dir, files["reference"]["path"])).astype(np.float64)
        self.ref_tree = cKDTree(self.reference)
        self.ref_cache = {}
        self._complete = None
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        prov = providers or ["CPUExecutionProvider"]
        self.down = ort.InferenceSession(os.path.join(model_dir, files["down"]["path"]), so, providers=prov)
        self.up = ort.InferenceSession(os.path.join(model_dir, files["up"]["path"]), so, providers=prov)

    # ---- stages ----
    def registered(self, scan: np.ndarray) -> np.ndarray:
        """The scan moved onto reference.pcd by the contract ICP (if enabled), f64, scan units."""
        pts = np.asarray(scan, dtype=np.float64)
        if self.register:
            r, t = icp(pts, self.reference, ref_tree=self.ref_tree)
            pts = apply_rigid(pts, r, t)
        return pts

    def register_scan(self, scan: np.ndarray) -> np.ndarray:
        """ICP to reference.pcd (if enabled) and normalisation; returns f32 [N, 3]."""
        return normalise(self.registered(scan), self.center, self.scale)

    def complete(self) -> np.ndarray:
        """The whole part missing material is judged against, normalised frame (Rust
        `DusNet::complete_part`): a scan's reconstruction lacks what the scan lacks.
        `scoring.missing_against`: "reconstruction" (default), the model's noise-off
        reconstruction of its reference cloud; "reference", the reference cloud itself."""
        if self._complete is None:
            if self.cfg["scoring"].get("missing_against", "reconstruction") == "reference":
                self._complete = normalise(self.reference, self.center, self.scale)
            else:
                q = self.register_scan(self.reference.astype(np.float32))
                c, p = self.down_inputs(*self.group(q))
                self._complete = self.reconstructions(self.run_down(c, p))[0]
        return self._complete

    def golden(self, scan: np.ndarray, scoring: dict | None = None):
        """The golden-part comparison (Rust `GoldenPart`): ICP to reference.pcd, the scan scored
        against the reference by the model's rule (or `scoring`), scan units."""
        sc = self.cfg["scoring"] if scoring is None else scoring
        pts = self.registered(scan)
        cache = self.ref_cache.setdefault(sc.get("rule", "paper"), {})
        s, obj = at_scan_density(pts, self.density, lambda p: score_points(p, self.reference, sc, 1.0, cache), sc)
        return {"object_score": obj, "point_scores": s}

    def group(self, q: np.ndarray):
        """The `grouping.passes` groupings of the stride sample: pass p starts FPS at sample
        index p * n // passes. Returns centers [P, G, 3] and neighbours [P, G, K, 3]."""
        sample = q[stride_indices(len(q), self.points)]
        centers, neighbours = [], []
        for p in range(self.passes):
            c = sample[fps(sample, self.groups, start=p * len(sample) // self.passes)]
            centers.append(c)
            neighbours.append(sample[knn(c, sample, self.k)])
        return np.stack(centers), np.stack(neighbours)

    def down_inputs(self, centers, neighbours, alpha=0.0, beta=0.0, draws=1, seed=7):
        """Down-Net batch of `draws` x passes items, draw-major."""
        g, k = centers.shape[-2], neighbours.shape[-2]
        c = np.repeat(centers[None], draws, axis=0).reshape(-1, g, 3).astype(np.float32)
        n = np.repeat(neighbours[None], draws, axis=0).reshape(-1, g, k, 3).astype(np.float32)
        if alpha > 0 or beta > 0:
            from .noise_gen import noise_gen
            return noise_gen(c, n, alpha, beta, np.random.default_rng(seed))
        return c, (n - c[:, :, None, :]).astype(np.float32)

    def run_down(self, centers, patches):
        return self.down.run(["pred_centers"], {"centers": centers, "patches": patches})[0]

    def run_up(self, pred):
        idx = up_indices(pred, self.s)
        feeds = {"centers": pred.astype(np.float32)}
        feeds.update({k: idx[k] for k in NAMES})
        return self.up.run(["points"], feeds)[0], feeds

    def reconstructions(self, pred):
        """One reconstruction per draw: the union of its passes' Up-Net outputs."""
        rec = self.run_up(pred)[0]
        return rec.reshape(len(rec) // self.passes, -1, 3)

    def infer(self, scan: np.ndarray, alpha=None, beta=None, draws=None, seed=None):
        nz = self.cfg.get("noise", {})
        alpha = nz.get("alpha", 0.0) if alpha is None else alpha
        beta = nz.get("beta", 0.0) if beta is None else beta
        draws = nz.get("draws", 1) if draws is None else draws
        seed = nz.get("seed", 7) if seed is None else seed
        if alpha == 0 and beta == 0:
            draws = 1
        sc = self.cfg["scoring"]
        q = self.register_scan(scan)
        centers, neighbours = self.group(q)
        c, p = self.down_inputs(centers, neighbours, alpha, beta, draws, seed)
        pred = self.run_down(c, p)
        recon = self.reconstructions(pred)
        s, obj = at_scan_density(q, self.density, lambda p: np.mean(
            [score_points(p, r, sc, self.scale, complete=self.complete()) for r in recon], axis=0), sc)
        return {"object_score": obj, "threshold": sc["threshold"],
                "verdict": "defect" if obj > sc["threshold"] else "good",
                "point_scores": s, "q": q, "recon": recon[0], "pred_centers": pred[0]}


def main(argv=None):
    ap = argparse.ArgumentParser(description="DUS-Net reference inference (ONNX Runtime)")
    ap.add_argument("scan")
    ap.add_argument("--model", required=True)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--alpha", type=float)
    ap.add_argument("--beta", type=float)
    ap.add_argument("--draws", type=int)
    a = ap.parse_args(argv)
    m = Model(a.model)
    r = m.infer(read_pcd(a.scan), a.alpha, a.beta, a.draws)
    if a.json:
        print(json.dumps({"scan": a.scan, "object_score": r["object_score"],
                          "threshold": r["threshold"], "verdict": r["verdict"],
                          "points": int(len(r["point_scores"])),
                          "point_scores_first16": [float(x) for x in r["point_scores"][:16]]}))
    else:
        print(f"object score {r['object_score']:.6f}  threshold {r['threshold']:.6f}  "
              f"verdict {r['verdict']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
