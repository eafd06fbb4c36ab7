#!/usr/bin/env python3
"""Quick evaluation of a model folder on its category's test split.

  python tools/evaluate.py --model models/<cat> --data DATA/<cat> [--write]

Reports O-AUROC, P-AUROC, O-AUPR, P-AUPR (sklearn) for DUS-Net (reference inference on the
exported ONNX graphs, noise off) and for the golden-part detector (ICP to reference.pcd), each
with the model's scoring rule (`model.toml [scoring]`) and with the paper's (eq. 15, max).
Point scores are min-max normalised per category over all its test points. --write stores the
figures in model.toml [eval] and eval.json."""
from __future__ import annotations

import argparse
import glob
import json
import os
import time

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from dusnet.io import read_pcd
from dusnet.reference import Model, object_score, score_points

PAPER = {"rule": "paper", "two_way": False, "weighting": False}


def load_labels(data, name, n):
    gt = os.path.join(data, "GT", name + ".txt")
    if not os.path.exists(gt):
        return np.zeros(n, dtype=np.int64)
    lab = np.loadtxt(gt, delimiter=",", usecols=3).astype(np.int64)
    if len(lab) != n:
        raise ValueError(f"{gt}: {len(lab)} labels for {n} points")
    return lab


def metrics(obj_scores, obj_labels, pt_scores, pt_labels):
    allp = np.concatenate(pt_scores)
    lo, hi = allp.min(), allp.max()
    norm = (allp - lo) / max(hi - lo, 1e-12)
    labs = np.concatenate(pt_labels)
    obj = np.asarray(obj_scores)
    return {"o_auroc": float(roc_auc_score(obj_labels, obj)),
            "p_auroc": float(roc_auc_score(labs, norm)),
            "o_aupr": float(average_precision_score(obj_labels, obj)),
            "p_aupr": float(average_precision_score(labs, norm))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="category folder with test/ and GT/")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    t0 = time.time()
    m = Model(a.model)
    files = sorted(glob.glob(os.path.join(a.data, "test", "*.pcd")))
    res = {k: {"obj": [], "pts": []} for k in ("dusnet", "dusnet_paper", "golden", "golden_paper")}
    olab, plab, per_scan = [], [], []
    for f in files:
        name = os.path.splitext(os.path.basename(f))[0]
        scan = read_pcd(f)
        lab = load_labels(a.data, name, len(scan))
        olab.append(0 if "positive" in name else 1)
        plab.append(lab)
        r = m.infer(scan)
        s = r["point_scores"]
        s1 = score_points(r["q"], r["recon"], PAPER, m.scale)
        g = m.golden(scan)["point_scores"]
        g1 = m.golden(scan, PAPER)["point_scores"]
        sc = m.cfg["scoring"]
        for k, v, rule in (("dusnet", s, sc), ("dusnet_paper", s1, PAPER), ("golden", g, sc),
                           ("golden_paper", g1, PAPER)):
            res[k]["obj"].append(object_score(v, rule))
            res[k]["pts"].append(v)
        per_scan.append({"scan": name, "label": olab[-1], "dusnet": res["dusnet"]["obj"][-1],
                         "golden": res["golden"]["obj"][-1], "verdict": r["verdict"]})
        print(f"{name:24s} label {olab[-1]}  dusnet {res['dusnet']['obj'][-1]:8.4f}  "
              f"paper {res['dusnet_paper']['obj'][-1]:8.4f}  golden {res['golden']['obj'][-1]:8.4f}  "
              f"{r['verdict']}", flush=True)
    out = {k: metrics(v["obj"], olab, v["pts"], plab) for k, v in res.items()}
    for k, v in out.items():
        print(f"{k:16s} " + "  ".join(f"{kk} {vv:.3f}" for kk, vv in v.items()))
    print(f"evaluated {len(files)} scans in {time.time() - t0:.0f}s")
    if a.write:
        import tomllib
        from dusnet import toml_io
        p = os.path.join(a.model, "model.toml")
        with open(p, "rb") as f:
            doc = tomllib.load(f)
        ev = dict(out["dusnet"])
        ev["scoring"] = m.cfg["scoring"].get("rule", "paper")
        ev.update({f"paper_{k}": v for k, v in out["dusnet_paper"].items()})
        ev.update({f"golden_{k}": v for k, v in out["golden"].items()})
        ev.update({f"golden_paper_{k}": v for k, v in out["golden_paper"].items()})
        ev["test_scans"] = len(files)
        ev["note"] = "tools/evaluate.py, noise off, point scores min-max normalised per category; paper_* = eq. 15 + max"
        doc["eval"] = ev
        with open(p, "w") as f:
            f.write(toml_io.dumps(doc))
        with open(os.path.join(a.model, "eval.json"), "w") as f:
            json.dump({"metrics": out, "scans": per_scan}, f, indent=1)


if __name__ == "__main__":
    main()
