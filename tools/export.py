#!/usr/bin/env python3
"""Export a trained checkpoint to a model folder (models/README.md):
down.onnx, up.onnx (opset 17, dynamic batch), model.toml, samples/, parity/.
Also measures the held-out reconstruction error of the exported graphs (model.toml [training]
recon_*) and, on the PyTorch nets, the inference-time ablations (field-only Down-Net, untrained
Up-Net residual, 3-D ball spread, fewer field projections) into [training] ablations.

  python tools/export.py --ckpt models/<cat>/ckpt.pt --out models/<cat> [--name <cat>]
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import glob
import hashlib
import json
import os
import platform
import shutil
import tomllib
import warnings

import numpy as np
import torch

from dusnet import toml_io
from dusnet.indices import NAMES, up_indices
from dusnet.io import read_pcd
from dusnet.nets import build_nets, nets_from_model, torch_errors
from dusnet.recon_error import template_errors
from dusnet.reference import Model

DOWN_IN, DOWN_OUT = ["centers", "patches"], ["pred_centers"]
UP_IN, UP_OUT = ["centers"] + NAMES, ["points"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            h.update(blk)
    return h.hexdigest()


def export_onnx(net, args, names_in, names_out, path):
    dyn = {n: {0: "batch"} for n in names_in + names_out}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(net, args, path, input_names=names_in, output_names=names_out,
                              dynamic_axes=dyn, opset_version=17, dynamo=False,
                              do_constant_folding=False)
        except TypeError:  # very old torch without the dynamo flag
            torch.onnx.export(net, args, path, input_names=names_in, output_names=names_out,
                              dynamic_axes=dyn, opset_version=17)
    import onnx
    onnx.checker.check_model(onnx.load(path), full_check=True)


def write_raw(dirp, name, arr):
    arr = np.ascontiguousarray(arr)
    dtype = "f32" if arr.dtype == np.float32 else "i64"
    arr = arr.astype("<f4" if dtype == "f32" else "<i8")
    fn = f"{name}.bin"
    arr.tofile(os.path.join(dirp, fn))
    return {"name": name.split("__")[-1], "dtype": dtype, "shape": list(arr.shape), "file": fn}


def load_toml(path):
    with open(path, "rb") as f:
        return tomllib.load(f)


def write_toml(path, doc):
    with open(path, "w") as f:
        f.write(toml_io.dumps(doc))


def scoring_table(a, out, name):
    """[scoring] without the threshold: the rule and its parameters of the model this export
    replaces (`--scoring-from`, else models/<name>/model.toml, else <out>/model.toml), so a
    retrained part keeps the scoring rule it shipped with; paper defaults if there is none."""
    repo_model = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", name, "model.toml")
    src = a.scoring_from or next((p for p in (repo_model, os.path.join(out, "model.toml"))
                                  if os.path.exists(p)), None)
    table = {"two_way": False, "weighting": False}
    if src:
        table.update(load_toml(src).get("scoring", {}))
        print(f"[scoring] from {os.path.relpath(src)}: rule {table.get('rule', 'paper')}")
    if a.two_way is not None:
        table["two_way"] = a.two_way == "true"
    table.pop("threshold", None)
    return table


def scan_table(templates_raw, scoring):
    """[scan] (models/README.md): a whole scan has the training scans' (median) point count;
    none for single-view scanners (`partial_scans`), whose views are partial by nature."""
    table = {"min_fraction": 0.5, "max_extent_ratio": 2.0}
    if not scoring.get("partial_scans", False):
        table["points"] = int(np.median([len(t) for t in templates_raw]))
    return table


def build_toml(name, cfg, ck, out, threshold, training, evald, created, scoring, scan):
    files = {k: {"path": p, "sha256": sha256(os.path.join(out, p))}
             for k, p in (("down", "down.onnx"), ("up", "up.onnx"), ("reference", "reference.pcd"))}
    return {
        "model": {"name": name, "version": "1.0.0", "created": created},
        "grouping": {"points": cfg["points"], "groups": cfg["groups"], "group_size": cfg["group_size"],
                     "up_ratio": cfg["up_ratio"], "up_neighbours": cfg["up_neighbours"],
                     "passes": cfg.get("passes", 1)},
        "noise": {"alpha": 0.0, "beta": 0.0, "draws": 1, "seed": 7},
        "normalisation": {"register": True, "center": [float(x) for x in ck["center"]],
                          "scale": float(ck["scale"])},
        "scoring": {"threshold": float(threshold), **scoring},
        "tensors": {"down_inputs": DOWN_IN, "down_outputs": DOWN_OUT, "up_inputs": UP_IN,
                    "up_outputs": UP_OUT},
        "files": files,
        "scan": scan,
        "training": training,
        "eval": evald,
    }


ABLATIONS = {
    "field_only_down": lambda n: n["down"].start_from_field(),  # no patch branch, field's MLP
    "up_untrained_residual": lambda n: setattr(n["up"], "residual", False),
    "up_ball_spread": lambda n: setattr(n["up"], "tangent", False),
    "up_project_2": lambda n: setattr(n["up"], "project_steps", 2),
    "up_project_1": lambda n: setattr(n["up"], "project_steps", 1),
    "up_project_0": lambda n: setattr(n["up"], "project_steps", 0),
}


def ablations(nets, ck, cfg, reference, templates_raw):
    """Held-out reconstruction error (mm) of each inference-time variant of the trained nets."""
    out = {}
    for name, change in ABLATIONS.items():
        variant = copy.deepcopy(nets)
        change(variant)
        rec = torch_errors(variant, reference, ck["center"], ck["scale"], cfg, templates_raw)
        out[name] = {k: round(v, 5) for k, v in rec.items()}
        print(f"ablation {name}: {json.dumps({k: round(v, 4) for k, v in out[name].items()})}")
    return out


def training_table(ck, cfg):
    """model.toml [training]: what was trained, how long, and the per-stage held-out errors."""
    t = {"data": cfg["data"], "data_dir": cfg["data_dir"], "design": "field + Down-Net + Up-Net (issue 10)"}
    for stage in ("field", "down", "up"):
        t[f"{stage}_steps"] = int(ck["steps"][stage])
        t[f"{stage}_minutes"] = round(ck["elapsed"][stage] / 60, 2)
    t["total_minutes"] = round(sum(ck["elapsed"].values()) / 60, 2)
    t.update({"machine": ck.get("machine", platform.machine()), "device": ck.get("device", "cpu"),
              "torch": ck.get("torch", torch.__version__)})
    for k in ("batch_points", "batch_centers", "patch_drop", "spread", "field_noise", "alphas", "beta_max"):
        t[k] = cfg[k]
    for stage, loss in ck["last"].items():
        if loss:
            t[f"final_{stage}_loss"] = {k: float(v) for k, v in loss.items()}
    for stage, rec in ck.get("recon", {}).items():
        t[f"after_{stage}"] = {k: round(float(v), 5) for k, v in rec.items()}
    return t


def write_scan_parity(out, name, doc):
    """parity.json's `scan` / `scans` entries: the Python reference (noise off) on the two
    samples with the folder's current model.toml. Also run alone (--scan-parity-only) after the
    threshold or the scoring rule changed (`edge-tool calibrate`, reference.py)."""
    m = Model(out)
    scans = []
    for fn in ("good.pcd", "defect.pcd"):
        r = m.infer(read_pcd(os.path.join(out, "samples", fn)))
        scans.append({"file": f"models/{name}/samples/{fn}", "object_score": r["object_score"],
                      "verdict": r["verdict"], "points": int(len(r["point_scores"])),
                      "point_scores": [float(x) for x in r["point_scores"][:16]]})
        print(f"{fn}: object score {r['object_score']:.5f} ({r['verdict']})")
    doc["scan"], doc["scans"] = scans[0], scans
    with open(os.path.join(out, "parity", "parity.json"), "w") as f:
        json.dump(doc, f, indent=1)


def load_nets(ck):
    nets = build_nets(ck["cfg"])
    nets.load_state_dict(ck["nets"])
    return nets.eval()


TRAINING_CFG = ("data", "data_dir", "batch_points", "batch_centers", "patch_drop", "spread", "field_noise",
                "alphas", "beta_max")


def from_model(out):
    """(checkpoint-like dict, nets, [training]) of the model folder `out`, from its own
    model.toml and graphs (`--from-model`): the training record is kept as trained, the figures
    measured on the exported graphs are measured again."""
    doc = load_toml(os.path.join(out, "model.toml"))
    training = doc["training"]
    cfg = {**doc["grouping"], **{k: training[k] for k in TRAINING_CFG}}
    nrm = doc["normalisation"]
    nets = nets_from_model(out, cfg)
    training["reexported"] = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d} from the graphs of {doc['model']['created']}"
    return {"cfg": cfg, "center": nrm["center"], "scale": nrm["scale"]}, nets, training


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name")
    ap.add_argument("--two-way", choices=["true", "false"],
                    help="override [scoring] two_way (paper rule)")
    ap.add_argument("--scoring-from", help="model.toml whose [scoring] rule and parameters to use "
                                           "(default: models/<name>/model.toml, else <out>/model.toml)")
    ap.add_argument("--defect-sample", default="bulge0",
                    help="which test scan becomes samples/defect.pcd: <cat>_<this>.pcd (bunny ships broken0, "
                         "one its model flags, so the demo shows a reject)")
    ap.add_argument("--no-ablations", action="store_true", help="skip the inference-time ablations")
    ap.add_argument("--from-model", action="store_true",
                    help="re-export the model folder --out from its own graphs' weights and model.toml "
                         "(no --ckpt; e.g. after a change to how the graphs are written)")
    ap.add_argument("--scan-parity-only", action="store_true",
                    help="only recompute parity.json's scan entries of the model folder --out "
                         "(no --ckpt needed; after calibrate or a scoring change)")
    ap.add_argument("--parity-only", action="store_true",
                    help="only rewrite parity/ (graph fixtures and scan entries) of the model folder "
                         "--out from its graphs (no --ckpt needed; after a registration or grouping change)")
    ap.add_argument("--test-dir", help="folder holding <cat>_positive0.pcd and <cat>_bulge0.pcd "
                                       "(default: ../test next to the training data)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    out = a.out
    name = a.name or os.path.basename(os.path.normpath(out))
    if a.scan_parity_only:
        with open(os.path.join(out, "parity", "parity.json")) as f:
            write_scan_parity(out, name, json.load(f))
        return
    if a.parity_only:
        m = Model(out)
        write_parity(out, name, m, *m.group(m.register_scan(read_pcd(os.path.join(out, "samples", "good.pcd")))))
        return
    if a.from_model:
        ck, nets, training = from_model(out)
    elif a.ckpt:
        ck = torch.load(a.ckpt, map_location="cpu", weights_only=False)
        nets, training = load_nets(ck), None
    else:
        ap.error("--ckpt is required (unless --from-model, --parity-only or --scan-parity-only)")
    cfg = ck["cfg"]
    if not os.path.exists(os.path.join(out, "reference.pcd")):
        raise SystemExit("reference.pcd missing: train first")
    tmpl = sorted(glob.glob(os.path.join(cfg["data_dir"], "*.pcd")))
    templates_raw = [read_pcd(f) for f in tmpl]
    reference = read_pcd(os.path.join(out, "reference.pcd"))
    abl = {} if a.no_ablations else ablations(nets, ck, cfg, reference, templates_raw)
    nets["field"].half_storage()  # fp16 tables in the graphs (see Field.half_storage)
    down, up = nets["down"], nets["up"]

    # golden samples
    test_dir = a.test_dir or os.path.join(os.path.dirname(cfg["data_dir"].rstrip("/")), "test")
    os.makedirs(os.path.join(out, "samples"), exist_ok=True)
    for src, dst in ((f"{name}_positive0.pcd", "good.pcd"), (f"{name}_{a.defect_sample}.pcd", "defect.pcd")):
        d = os.path.join(out, "samples", dst)
        if not os.path.exists(d):
            shutil.copyfile(os.path.join(test_dir, src), d)

    # ---- ONNX export with batch 2 real inputs (good.pcd with two noise draws) ----
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    training = training_table(ck, cfg) if training is None else training
    if abl:
        training["ablations"] = abl
    c0 = torch.zeros(2, cfg["groups"], 3)
    p0 = torch.zeros(2, cfg["groups"], cfg["group_size"], 3)
    export_onnx(down, (c0, p0), DOWN_IN, DOWN_OUT, os.path.join(out, "down.onnx"))
    rng = np.random.default_rng(0)
    cr = rng.normal(size=(2, cfg["groups"], 3)).astype(np.float32)
    idx = up_indices(cr, cfg["up_neighbours"])
    export_onnx(up, tuple([torch.from_numpy(cr)] + [torch.from_numpy(idx[k]) for k in NAMES]),
                UP_IN, UP_OUT, os.path.join(out, "up.onnx"))
    scoring = scoring_table(a, out, name)
    scan = scan_table(templates_raw, scoring)
    evald = {}
    old = os.path.join(out, "model.toml")
    if os.path.exists(old):
        try:
            evald = load_toml(old).get("eval", {})
        except Exception:  # noqa: BLE001
            evald = {}
    write_toml(old, build_toml(name, cfg, ck, out, 0.0, training, evald, created, scoring, scan))

    # ---- parity: ORT vs PyTorch on real inputs, batch 2 and batch 1 ----
    m = Model(out)
    good = read_pcd(os.path.join(out, "samples", "good.pcd"))
    q = m.register_scan(good)
    centers, nbrs = m.group(q)
    c2, p2 = m.down_inputs(centers, nbrs, 0.01, 0.015, draws=2, seed=1)
    with torch.no_grad():
        pt = down(torch.from_numpy(c2), torch.from_numpy(p2)).numpy()
    po = m.run_down(c2, p2)
    dd = float(np.abs(pt - po).max())
    rec_o, feeds = m.run_up(po)
    with torch.no_grad():
        rec_t = up(*[torch.from_numpy(feeds[k]) for k in UP_IN]).numpy()
    du = float(np.abs(rec_t - rec_o).max())
    print(f"parity ORT vs PyTorch (batch 2): down max abs diff {dd:.3e}, up max abs diff {du:.3e}")
    training["onnx_parity_down_max_abs"] = dd
    training["onnx_parity_up_max_abs"] = du

    # ---- held-out reconstruction error of the exported graphs (ONNX Runtime) ----
    rec = template_errors(m, templates_raw, ck["scale"])
    training.update(rec)
    print(f"held-out reconstruction (ONNX): {json.dumps({k: round(v, 4) for k, v in rec.items()})}")

    # ---- threshold: max object score over the training templates x 1.1 ----
    tscores = [m.infer(t)["object_score"] for t in templates_raw]
    threshold = 1.1 * max(tscores)
    training["template_object_scores"] = [float(x) for x in tscores]
    print(f"template object scores {np.round(tscores, 4).tolist()} -> threshold {threshold:.4f}")
    write_toml(old, build_toml(name, cfg, ck, out, threshold, training, evald, created, scoring, scan))

    write_parity(out, name, m, centers, nbrs)
    print(f"exported {out}")


def write_parity(out, name, m, centers, nbrs):
    """parity/: the graphs' fixtures (batch 1, noise off, the first grouping pass of
    samples/good.pcd, outputs from ONNX Runtime) and the scan entries. Also run alone
    (--parity-only) after a change to registration or grouping: the graphs' inputs change."""
    pdir = os.path.join(out, "parity")
    shutil.rmtree(pdir, ignore_errors=True)
    os.makedirs(pdir)
    c1, p1 = m.down_inputs(centers[:1], nbrs[:1])
    pred1 = m.run_down(c1, p1)
    rec1, feeds1 = m.run_up(pred1)
    doc = {"down": {"inputs": [write_raw(pdir, "down__centers", c1), write_raw(pdir, "down__patches", p1)],
                    "outputs": [write_raw(pdir, "down__pred_centers", pred1)]},
           "up": {"inputs": [write_raw(pdir, f"up__{k}", feeds1[k]) for k in UP_IN],
                  "outputs": [write_raw(pdir, "up__points", rec1)]}}
    doc["tolerance"] = 1e-4
    write_scan_parity(out, name, doc)


if __name__ == "__main__":
    main()
