#!/usr/bin/env python3
"""Per-part DUS-Net training (paper sec. 3.4, tools/README.md), three time-budgeted stages:

  field  the position prior: template points + isotropic noise -> their nearest clean point
  down   the Down-Net head + patch branch on the frozen field: Noise-Gen'd centers -> clean
  up     the Up-Net's residual on the frozen Down-Net and field: chamfer + repulsion

The reconstruction error on held-out template points (both ways, mm) is measured through the whole
inference path at the end of every stage; the field-only displacement of held-out points is printed
every --eval-every steps as a cheap proxy. Checkpoints every minute; --resume continues.

  python tools/train.py --data DATA/<part>/train --out runs/<part> --minutes 8 [--resume]
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import platform
import time

import numpy as np
import torch
from scipy.spatial import cKDTree

from dusnet.geometry import apply_rigid, fps_fast, icp, knn_fast
from dusnet.indices import NAMES, up_indices
from dusnet.io import read_pcd, write_pcd
from dusnet.nets import NET_DEFAULTS, build_nets, torch_errors
from dusnet.noise_gen import noise_gen
from dusnet.recon_error import held_out_mask

FIELD_NOISE = [0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08]  # isotropic, normalised units
ALPHAS = [0.0, 0.002, 0.005, 0.01, 0.02, 0.04]  # Noise-Gen alpha mixture, per center
BETA_MAX = 0.002  # Noise-Gen beta ~ U(0, BETA_MAX): about the scanner noise (0.1 mm)
STAGES = ("field", "down", "up")


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", required=True, help="folder of good templates (*.pcd); sorted, first = template 0")
    ap.add_argument("--out", required=True, help="run folder (ckpt.pt, train.log, reference.pcd)")
    ap.add_argument("--minutes", type=float, default=None,
                    help="total budget of the three stages (default 8). With --resume a larger value "
                         "extends every stage that had not used its new share")
    ap.add_argument("--split", type=float, nargs=3, default=[0.6, 0.25, 0.15],
                    metavar=("FIELD", "DOWN", "UP"), help="shares of the budget per stage")
    ap.add_argument("--max-steps", type=int, nargs=3, default=None, metavar=("FIELD", "DOWN", "UP"),
                    help="also stop a stage after this many steps (GPU runs)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--points", type=int, default=16384)
    ap.add_argument("--groups", type=int, default=512)
    ap.add_argument("--group-size", type=int, default=32)
    ap.add_argument("--up-ratio", type=int, default=32)
    ap.add_argument("--up-neighbours", type=int, default=16)
    ap.add_argument("--passes", type=int, default=8,
                    help="grouping passes at inference (model.toml [grouping] passes): the reconstruction "
                         "is the union of this many groupings, passes x groups x up-ratio points")
    ap.add_argument("--batch-points", type=int, default=8192, help="field stage: points per step")
    ap.add_argument("--batch-centers", type=int, default=4096, help="down stage: centers per step")
    ap.add_argument("--patch-drop", type=float, default=NET_DEFAULTS["patch_drop"])
    ap.add_argument("--spread", type=float, default=NET_DEFAULTS["spread"])
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


class Log:
    def __init__(self, path):
        self.path = path

    def __call__(self, msg):
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {msg}"
        print(line, flush=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")


def register_templates(files, log):
    """Templates 1.. registered to template 0 by the contract ICP (f64, scan units)."""
    t0 = read_pcd(files[0]).astype(np.float64)
    tree = cKDTree(t0)
    reg = [t0]
    for f in files[1:]:
        scan = read_pcd(f)
        r, t = icp(scan, t0, ref_tree=tree)
        moved = apply_rigid(scan, r, t)
        ang = math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(r) - 1) / 2))))
        log(f"icp {os.path.basename(f)} -> template0: rot {ang:.3f} deg, |t| {np.linalg.norm(t):.3f}, "
            f"median nn {np.median(tree.query(moved)[0]):.4f}")
        reg.append(moved)
    return reg


def write_reference(out, reg):
    """reference.pcd = union of the registered templates; center/scale of the normalisation."""
    union = np.concatenate(reg).astype(np.float32)
    write_pcd(os.path.join(out, "reference.pcd"), union)
    u64 = union.astype(np.float64)
    center = u64.mean(axis=0)
    return center, float(np.linalg.norm(u64 - center, axis=1).max())


class Data:
    """Templates in the normalised frame, split into trained and held-out points."""

    def __init__(self, reg, center, scale, device):
        self.scale = scale
        norm = [((x - center) / scale).astype(np.float32) for x in reg]
        masks = [held_out_mask(len(x), i) for i, x in enumerate(norm)]
        self.train = [x[~m] for x, m in zip(norm, masks)]
        self.trees = [cKDTree(x) for x in self.train]
        self.held = np.concatenate([x[m] for x, m in zip(norm, masks)])
        self.union = np.concatenate(self.train)
        self.union_tree = cKDTree(self.union)
        self.device = device

    def nearest_clean(self, x):
        return self.union[self.union_tree.query(x)[1]]

    def t(self, x):
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)


def field_batch(data, rng, n):
    """Template points + isotropic noise from FIELD_NOISE -> (noisy, nearest clean point)."""
    p = data.union[rng.integers(len(data.union), size=n)]
    sigma = rng.choice(FIELD_NOISE, size=(n, 1)).astype(np.float32)
    x = p + sigma * rng.standard_normal(p.shape).astype(np.float32)
    return x, data.nearest_clean(x)


def down_batch(data, rng, cfg):
    """Random centers of one template with their KNN patches (Noise-Gen eq. 1, alpha and beta per
    center) -> (c~, p~ - c~, nearest clean point of c~)."""
    t = rng.integers(len(data.train))
    pts, tree = data.train[t], data.trees[t]
    n = cfg["batch_centers"]
    ci = rng.integers(len(pts), size=n)
    nb = pts[knn_fast(pts[ci], pts, cfg["group_size"], tree)]
    alpha = rng.choice(ALPHAS, size=(1, n, 1))
    beta = rng.uniform(0, BETA_MAX, size=(1, n, 1, 1))
    c_t, patches = noise_gen(pts[ci][None], nb[None], alpha, beta, rng)
    return c_t, patches, data.nearest_clean(c_t[0])[None]


def up_batch(data, rng, cfg, nets):
    """One template sample through grouping and the frozen Down-Net -> Up-Net inputs + GT."""
    t = rng.integers(len(data.train))
    pts = data.train[t]
    sample = pts[rng.permutation(len(pts))[:cfg["points"]]]
    ci = fps_fast(sample, cfg["groups"])
    nb = sample[knn_fast(sample[ci], sample, cfg["group_size"])]
    c, p = noise_gen(sample[ci][None], nb[None], 0.0, 0.0, rng)  # inference input: noise off
    with torch.no_grad():
        pred = nets["down"](data.t(c), data.t(p)).cpu().numpy()
    idx = up_indices(pred, cfg["up_neighbours"])
    ins = [data.t(pred)] + [torch.from_numpy(idx[k]).to(data.device) for k in NAMES]
    return ins, pts


def up_loss(out, gt, data, h=0.01, w_rep=0.1):
    """L1 chamfer both ways (eq. 13 + its reverse) to the clean template, exact nearest neighbours
    from kd-trees on the detached points, plus repulsion (eq. 12) over the 4 nearest outputs."""
    o = out[0]
    o_np = o.detach().cpu().numpy()
    dev = lambda x: torch.from_numpy(x).to(o.device)  # noqa: E731
    o2g = (o - dev(data.nearest_clean(o_np))).norm(dim=-1).mean()
    tree_o = cKDTree(o_np)
    g2o = (dev(gt) - o[dev(tree_o.query(gt)[1])]).norm(dim=-1).mean()
    nbi = dev(tree_o.query(o_np, k=5)[1][:, 1:])
    d = (o.unsqueeze(1) - o[nbi]).norm(dim=-1)
    rep = (-d * torch.exp(-(d / h) ** 2)).mean()
    return o2g + g2o + w_rep * rep, {"o2g": o2g.item(), "g2o": g2o.item(), "rep": rep.item()}


def mse(pred, target):
    return ((pred - target) ** 2).sum(-1).mean()


def lr_factor(frac, step, warm=20):
    """Warm-up, then cosine decay to 5 % over the stage's budget."""
    return min(1.0, (step + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def make_optimizers(nets):
    field = nets["field"]
    return {
        "field": torch.optim.Adam([{"params": field.grid_parameters(), "lr": 1e-2},
                                   {"params": field.mlp.parameters(), "lr": 1e-3}]),
        "down": torch.optim.Adam(nets["down"].trainable(), lr=1e-3),
        "up": torch.optim.Adam(nets["up"].trainable(), lr=1e-3),
    }


def field_proxy(nets, data):
    """Field-only displacement of the held-out clean points (mm): cheap precision proxy."""
    with torch.no_grad():
        d = nets["field"].correction(data.t(data.held)).norm(dim=-1).cpu().numpy() * data.scale
    return float(np.median(d)), float(np.percentile(d, 99))


def stage_limits(cfg, stage):
    """(seconds, step cap or None) of a stage."""
    i = STAGES.index(stage)
    return cfg["minutes"] * 60 * cfg["split"][i], (cfg.get("max_steps") or [None] * 3)[i]


def stage_done(cfg, state, stage):
    budget, cap = stage_limits(cfg, stage)
    return state["elapsed"][stage] >= budget - 1 or (cap is not None and state["steps"][stage] >= cap)


def run_stage(stage, nets, opt, data, cfg, state, log, rng, save):
    """Train one stage until its time budget (or step cap) is used; updates state in place."""
    budget, _ = stage_limits(cfg, stage)
    field = nets["field"]
    for p in field.parameters():
        p.requires_grad_(stage == "field")
    nets.train()
    base = state.setdefault("base_lr", {}).setdefault(stage, [g["lr"] for g in opt.param_groups])
    if stage == "down" and state["steps"]["down"] == 0:
        nets["down"].start_from_field()  # the trained field's MLP, not the one at construction
    t0 = time.time() - state["elapsed"][stage]
    acc, last_save = {}, time.time()
    while not stage_done(cfg, state, stage):
        step = state["steps"][stage]
        for g, b in zip(opt.param_groups, base):
            g["lr"] = b * lr_factor((time.time() - t0) / budget, step)
        if stage == "field":
            x, tgt = field_batch(data, rng, cfg["batch_points"])
            loss = mse(field.project(data.t(x)), data.t(tgt))
            parts = {}
        elif stage == "down":
            c_t, patches, tgt = down_batch(data, rng, cfg)
            loss = mse(nets["down"](data.t(c_t), data.t(patches)), data.t(tgt))
            parts = {"copy": float(((c_t - tgt) ** 2).sum(-1).mean())}  # loss of returning c~
        else:
            ins, gt = up_batch(data, rng, cfg, nets)
            loss, parts = up_loss(nets["up"](*ins), gt, data)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["steps"][stage] += 1
        state["elapsed"][stage] = time.time() - t0
        for k, v in {"loss": loss.item(), **parts}.items():
            acc[k] = acc.get(k, 0.0) + v
        if state["steps"][stage] % cfg["eval_every"] == 0:
            avg = {k: v / cfg["eval_every"] for k, v in acc.items()}
            acc = {}
            state["last"][stage] = avg
            med, p99 = field_proxy(nets, data)
            log(f"{stage} step {state['steps'][stage]} t {state['elapsed'][stage]:.0f}s "
                + " ".join(f"{k} {v:.3e}" for k, v in avg.items())
                + f" | held-out field displacement median {med:.4f} mm p99 {p99:.4f} mm")
        if time.time() - last_save > 60:
            save()
            last_save = time.time()


def main():
    a = parse()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    log = Log(os.path.join(a.out, "train.log"))
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device visible to PyTorch")
    dev = torch.device(a.device)
    ckpt_path = os.path.join(a.out, "ckpt.pt")
    files = sorted(glob.glob(os.path.join(a.data, "*.pcd")))
    if not files:
        raise SystemExit(f"no *.pcd in {a.data}")

    cfg = dict(points=a.points, groups=a.groups, group_size=a.group_size, up_ratio=a.up_ratio,
               up_neighbours=a.up_neighbours, passes=a.passes, minutes=a.minutes or 8.0, split=a.split,
               max_steps=a.max_steps, batch_points=a.batch_points, batch_centers=a.batch_centers,
               patch_drop=a.patch_drop, spread=a.spread, eval_every=a.eval_every,
               field_noise=FIELD_NOISE, alphas=ALPHAS, beta_max=BETA_MAX, seed=a.seed,
               data=[os.path.basename(f) for f in files], data_dir=os.path.abspath(a.data))
    cfg = {**NET_DEFAULTS, **cfg}  # the checkpoint records every architecture parameter
    state = None
    if a.resume and os.path.exists(ckpt_path):
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if a.minutes is not None and a.minutes != state["cfg"]["minutes"]:
            log(f"budget {state['cfg']['minutes']} -> {a.minutes} minutes")
            state["cfg"]["minutes"] = a.minutes
        cfg = state["cfg"]
        log(f"resume from {ckpt_path}: steps {state['steps']}")
    else:
        log(f"train {a.out}: {len(files)} templates, device {dev}, cfg {json.dumps(cfg)}")
    reg = register_templates(files, log)
    if state is None:
        center, scale = write_reference(a.out, reg)
        log(f"reference: {sum(len(x) for x in reg)} points, center {center.tolist()}, scale {scale}")
        state = {"steps": dict.fromkeys(STAGES, 0), "elapsed": dict.fromkeys(STAGES, 0.0),
                 "last": {s: {} for s in STAGES}, "recon": {}, "center": center.tolist(), "scale": scale}
    center, scale = np.array(state["center"]), state["scale"]
    rng = np.random.default_rng(a.seed + sum(state["steps"].values()))
    torch.manual_seed(a.seed + sum(state["steps"].values()))
    data = Data(reg, center, scale, dev)
    nets = build_nets(cfg).to(dev)
    opts = make_optimizers(nets)
    if "nets" in state:
        nets.load_state_dict(state["nets"])
        for k, o in opts.items():
            o.load_state_dict(state["opt"][k])
    reference = read_pcd(os.path.join(a.out, "reference.pcd"))
    templates_raw = [read_pcd(f) for f in files]

    def save():
        state.update(cfg=cfg, nets=nets.state_dict(), opt={k: o.state_dict() for k, o in opts.items()},
                     torch=torch.__version__, device=str(dev),
                     machine=f"{platform.machine()} {os.cpu_count()} cpu, {a.threads} thread(s)")
        torch.save(state, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)

    for stage in STAGES:
        if stage_done(cfg, state, stage):
            continue
        run_stage(stage, nets, opts[stage], data, cfg, state, log, rng, save)
        t = time.time()
        state["recon"][stage] = torch_errors(nets, reference, center, scale, cfg, templates_raw, dev)
        log(f"{stage} done: {state['steps'][stage]} steps, {state['elapsed'][stage] / 60:.2f} min; "
            f"held-out reconstruction {json.dumps({k: round(v, 4) for k, v in state['recon'][stage].items()})} "
            f"(measured in {time.time() - t:.0f}s)")
        save()
    log(f"training finished: steps {json.dumps(state['steps'])}, minutes "
        f"{json.dumps({k: round(v / 60, 2) for k, v in state['elapsed'].items()})}")


if __name__ == "__main__":
    main()
