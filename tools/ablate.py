#!/usr/bin/env python3
"""Inference-time ablations of the shipped DUS-Net models (the idea of the paper's table 5).

  python tools/ablate.py --models models --data DATA [--cats bunny milk car] [--out tools/ablations.json]
  python tools/ablate.py --table tools/ablations.json      # print the table of a stored run

No retraining: every variant reuses the exported graphs of `models/<cat>/` and changes only what
is fed to them or how the scan is scored. Per test scan (ICP + grouping done once):

  full       shipped inference: Down-Net -> Up-Net -> one-way score (eq. 15), noise off
  two_way    same reconstruction, two-way score (missing-material term added)
  fps_down   Down-Net replaced by plain FPS: the scan's FPS centers (no noise) go straight into the
             Up-Net (Up-Net indices computed on them as usual), one-way score
  no_up      without Up-Net: distance of each scan point to the Down-Net's G predicted centers
  noise      Noise-Gen at inference: alpha = median of model.toml [training] alphas, beta = middle
             of the training beta range, Down-Net + Up-Net, one-way point scores averaged over 4
             draws (seed from model.toml [noise])

Metrics are those of evaluate.py (point scores min-max normalised per category over all its test
points; object score = max point score). Results are merged per category into --out."""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dusnet.io import read_pcd  # noqa: E402
from dusnet.reference import Model, score_points  # noqa: E402
from evaluate import load_labels, metrics  # noqa: E402

CATS = ["bunny", "milk", "car"]
VARIANTS = ["full", "two_way", "fps_down", "no_up", "noise"]
LABELS = {"full": "full DUS-Net (shipped, one-way)", "two_way": "two-way scoring",
          "fps_down": "Down-Net replaced by FPS", "no_up": "without Up-Net (score vs centers)",
          "noise": "Noise-Gen at inference (4 draws)"}


def noise_params(cfg: dict) -> tuple[float, float]:
    """Training noise levels of model.toml [training]: median alpha, middle of the beta range."""
    tr = cfg["training"]
    a, b = tr["alphas"], tr["beta"]
    alpha = float(np.median(a)) if isinstance(a, list) else float(a)
    beta = float(np.mean(b)) if isinstance(b, list) else float(b)
    return alpha, beta


def ablate_scan(m: Model, scan: np.ndarray, alpha: float, beta: float, draws: int, seed: int) -> dict:
    """Point scores (scan units) of every variant for one scan."""
    q = m.register_scan(scan)
    centers, neighbours = m.group(q)
    c, p = m.down_inputs(centers, neighbours)
    pred = m.run_down(c, p)
    recon, _ = m.run_up(pred)
    recon_fps, _ = m.run_up(centers[None].astype(np.float32))
    cn, pn = m.down_inputs(centers, neighbours, alpha, beta, draws, seed)
    recon_noise, _ = m.run_up(m.run_down(cn, pn))
    out = {"full": score_points(q, recon[0], False, False),
           "two_way": score_points(q, recon[0], True, False),
           "fps_down": score_points(q, recon_fps[0], False, False),
           "no_up": score_points(q, pred[0], False, False),
           "noise": np.mean([score_points(q, r, False, False) for r in recon_noise], axis=0)}
    return {k: v * m.scale for k, v in out.items()}


def run_category(model_dir: str, data: str, draws: int) -> dict:
    m = Model(model_dir)
    alpha, beta = noise_params(m.cfg)
    seed = m.cfg.get("noise", {}).get("seed", 7)
    files = sorted(glob.glob(os.path.join(data, "test", "*.pcd")))
    res = {k: {"obj": [], "pts": []} for k in VARIANTS}
    olab, plab = [], []
    t0 = time.time()
    for f in files:
        name = os.path.splitext(os.path.basename(f))[0]
        scan = read_pcd(f)
        olab.append(0 if "positive" in name else 1)
        plab.append(load_labels(data, name, len(scan)))
        s = ablate_scan(m, scan, alpha, beta, draws, seed)
        for k in VARIANTS:
            res[k]["obj"].append(float(s[k].max()))
            res[k]["pts"].append(s[k])
        print(f"{name:24s} label {olab[-1]}  " + "  ".join(f"{k} {s[k].max():7.3f}" for k in VARIANTS),
              flush=True)
    out = {k: metrics(v["obj"], olab, v["pts"], plab) for k, v in res.items()}
    return {"metrics": out, "test_scans": len(files), "noise": {"alpha": alpha, "beta": beta,
            "draws": draws, "seed": seed}, "seconds": round(time.time() - t0, 1)}


def table(doc: dict) -> str:
    cats = sorted(doc["categories"], key=lambda c: (CATS.index(c) if c in CATS else len(CATS), c))
    head = "| variant | " + " | ".join(f"{c} O-AUROC | {c} P-AUROC" for c in cats) + \
        " | mean O-AUROC | mean P-AUROC |"
    lines = [head, "|---" * (1 + 2 * len(cats) + 2) + "|"]
    for v in VARIANTS:
        o = [doc["categories"][c]["metrics"][v]["o_auroc"] for c in cats]
        p = [doc["categories"][c]["metrics"][v]["p_auroc"] for c in cats]
        cells = [f"{a:.3f} | {b:.3f}" for a, b in zip(o, p)]
        lines.append(f"| {LABELS[v]} | " + " | ".join(cells) + f" | {np.mean(o):.3f} | {np.mean(p):.3f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="models")
    ap.add_argument("--data", default="/work/shared/data/scanad-dev")
    ap.add_argument("--cats", nargs="+", default=CATS)
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "ablations.json"))
    ap.add_argument("--table", metavar="JSON", help="only print the table of a stored run")
    a = ap.parse_args()
    if a.table:
        with open(a.table) as f:
            print(table(json.load(f)))
        return
    for cat in a.cats:
        r = run_category(os.path.join(a.models, cat), os.path.join(a.data, cat), a.draws)
        for k, v in r["metrics"].items():
            print(f"{cat:8s} {k:9s} " + "  ".join(f"{kk} {vv:.3f}" for kk, vv in v.items()))
        # merge per category so that parallel / partial runs accumulate in one file
        doc = {"categories": {}}
        if os.path.exists(a.out):
            with open(a.out) as f:
                doc = json.load(f)
        doc["categories"][cat] = r
        doc["note"] = ("tools/ablate.py; noise off except 'noise'; point scores min-max normalised "
                       "per category over all its test points (as evaluate.py)")
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)
        print(table(doc), flush=True)


if __name__ == "__main__":
    main()
