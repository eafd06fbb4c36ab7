#!/usr/bin/env python3
"""Per-part DUS-Net training (paper sec. 3.4): Down-Net first, then the frozen Down-Net feeds
the Up-Net. Time-budgeted, checkpoints every minute, resumable.

  python tools/train.py --data DATA/<cat>/train --out models/<cat> --minutes 12 [--resume]
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import platform
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dusnet.down_net import DownNet, down_loss  # noqa: E402
from dusnet.geometry import (apply_rigid, fps_fast, icp, knn_fast, random_rotation)  # noqa: E402
from dusnet.indices import up_indices  # noqa: E402
from dusnet.io import read_pcd, write_pcd  # noqa: E402
from dusnet.noise_gen import noise_gen  # noqa: E402
from dusnet.up_net import UpNet, up_loss  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

ALPHAS = [0.005, 0.01, 0.015, 0.02, 0.03]  # Noise-Gen alpha mixture (findings: 0.015 > 0.03)


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", required=True, help="folder of good scans (*.pcd); sorted, first = template 0")
    ap.add_argument("--out", required=True, help="model folder")
    ap.add_argument("--minutes", type=float, default=None,
                    help="total budget, both stages (default 12). With --resume, a larger value than "
                         "the checkpoint's extends training: the Down-Net continues to its new share, "
                         "then the Up-Net to its new share")
    ap.add_argument("--down-frac", type=float, default=0.6, help="share of the budget for the Down-Net")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--points", type=int, default=16384)
    ap.add_argument("--groups", type=int, default=1024)
    ap.add_argument("--group-size", type=int, default=32)
    ap.add_argument("--up-ratio", type=int, default=16)
    ap.add_argument("--up-neighbours", type=int, default=16)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--mask-ratio", type=float, default=0.4)
    ap.add_argument("--no-noise-gen", action="store_true",
                    help="ablation (table 5): Noise-Gen off in training, alpha = beta = 0 (both stages)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def log(path, msg):
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {msg}"
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")


def build_reference(files, out, logf):
    """Register templates 1.. to template 0 (contract ICP), write their union as reference.pcd."""
    scans = [read_pcd(f) for f in files]
    t0 = scans[0].astype(np.float64)
    tree = cKDTree(t0)
    reg = [t0]
    for f, s in zip(files[1:], scans[1:]):
        r, t = icp(s, t0, ref_tree=tree)
        moved = apply_rigid(s, r, t)
        d, _ = tree.query(moved)
        ang = math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(r) - 1) / 2))))
        log(logf, f"icp {os.path.basename(f)} -> template0: rot {ang:.3f} deg, |t| "
                  f"{np.linalg.norm(t):.3f}, median nn {np.median(d):.4f}")
        reg.append(moved)
    union = np.concatenate(reg).astype(np.float32)
    write_pcd(os.path.join(out, "reference.pcd"), union)
    u64 = union.astype(np.float64)
    center = u64.mean(axis=0)
    scale = float(np.linalg.norm(u64 - center, axis=1).max())
    return [x.astype(np.float64) for x in reg], center, scale


class Sampler:
    """Training samples in the normalised frame: resampling, tiny rigid motion, scanner jitter."""

    def __init__(self, templates, cfg, rng):
        self.t = templates
        self.cfg = cfg
        self.rng = rng

    def one(self):
        rng, cfg = self.rng, self.cfg
        pts = self.t[rng.integers(len(self.t))]
        n = len(pts)
        if n > cfg["points"]:
            sub = pts[rng.permutation(n)[:cfg["points"]]]
        else:
            sub = pts[rng.permutation(n)[:int(n * rng.uniform(0.9, 1.0))]]
        r = random_rotation(1.0, rng)
        sub = sub @ r.T + rng.normal(0, 0.005, 3)
        sub = (sub + rng.normal(0, 0.001, sub.shape)).astype(np.float32)
        ci = fps_fast(sub, cfg["groups"])
        tree = cKDTree(sub)
        nb = knn_fast(sub[ci], sub, cfg["group_size"], tree)
        return sub, sub[ci], sub[nb], tree


def lr_at(base, frac, step):
    warm = min(1.0, (step + 1) / 100)
    return base * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def main():
    a = parse()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    logf = os.path.join(a.out, "train.log")
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ckpt_path = os.path.join(a.out, "ckpt.pt")
    rng = np.random.default_rng(a.seed)
    torch.manual_seed(a.seed)
    files = sorted(glob.glob(os.path.join(a.data, "*.pcd")))
    if not files:
        raise SystemExit(f"no *.pcd in {a.data}")

    minutes_arg = a.minutes
    if a.minutes is None:
        a.minutes = 12.0
    cfg = dict(points=a.points, groups=a.groups, group_size=a.group_size, up_ratio=a.up_ratio,
               up_neighbours=a.up_neighbours, dim=a.dim, layers=a.layers, heads=a.heads,
               batch=a.batch, lr=a.lr, mask_ratio=a.mask_ratio, minutes=a.minutes,
               down_frac=a.down_frac, alphas=ALPHAS, beta=[0.01, 0.02], noise_gen=not a.no_noise_gen,
               data=[os.path.basename(f) for f in files], data_dir=os.path.abspath(a.data))
    state = None
    if a.resume and os.path.exists(ckpt_path):
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        cfg = state["cfg"]
        if minutes_arg is not None and minutes_arg != cfg["minutes"]:
            log(logf, f"budget {cfg['minutes']} -> {a.minutes} minutes")
            cfg["minutes"] = a.minutes
        log(logf, f"resume from {ckpt_path}: stage {state['stage']}, steps {state['steps']}")
    if state is not None and os.path.exists(os.path.join(a.out, "reference.pcd")):
        center, scale = np.array(state["center"]), state["scale"]
        t0 = read_pcd(files[0]).astype(np.float64)
        tree = cKDTree(t0)
        reg = [t0]
        for f in files[1:]:
            s = read_pcd(f)
            r, t = icp(s, t0, ref_tree=tree)
            reg.append(apply_rigid(s, r, t))
    else:
        log(logf, f"train {a.out}: {len(files)} templates, device {dev}, cfg {json.dumps(cfg)}")
        reg, center, scale = build_reference(files, a.out, logf)
        log(logf, f"reference: {sum(len(x) for x in reg)} points, center {center.tolist()}, scale {scale}")
    templates = [((x - center) / scale).astype(np.float32) for x in reg]
    sampler = Sampler(templates, cfg, rng)

    down = DownNet(cfg["dim"], cfg["layers"], cfg["heads"], mask_ratio=cfg["mask_ratio"]).to(dev)
    up = UpNet(cfg["up_ratio"]).to(dev)
    opt_d = torch.optim.AdamW(down.parameters(), lr=cfg["lr"], weight_decay=1e-4)
    opt_u = torch.optim.AdamW(up.parameters(), lr=cfg["lr"], weight_decay=1e-4)
    stage, steps, elapsed = "down", {"down": 0, "up": 0}, {"down": 0.0, "up": 0.0}
    last = {"down": {}, "up": {}}
    if state is not None:
        down.load_state_dict(state["down"])
        up.load_state_dict(state["up"])
        opt_d.load_state_dict(state["opt_down"])
        opt_u.load_state_dict(state["opt_up"])
        stage, steps, elapsed, last = state["stage"], state["steps"], state["elapsed"], state["last"]
    budget = {"down": cfg["minutes"] * 60 * cfg["down_frac"],
              "up": cfg["minutes"] * 60 * (1 - cfg["down_frac"])}
    if stage != "down" and elapsed["down"] < budget["down"] - 10:
        stage = "down"  # extended budget: continue the Down-Net, then the Up-Net on its new outputs
    elif stage == "done" and elapsed["up"] < budget["up"] - 10:
        stage = "up"

    def save():
        torch.save({"cfg": cfg, "center": list(map(float, center)), "scale": float(scale),
                    "down": down.state_dict(), "up": up.state_dict(), "opt_down": opt_d.state_dict(),
                    "opt_up": opt_u.state_dict(), "stage": stage, "steps": steps,
                    "elapsed": elapsed, "last": last, "torch": torch.__version__,
                    "device": str(dev), "machine": f"{platform.machine()} {os.cpu_count()} cpu"},
                   ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)

    b = cfg["batch"]
    last_save = time.time()
    # ---------------- stage 1: Down-Net (eq. 1-8) ----------------
    if stage == "down":
        down.train()
        t_start = time.time() - elapsed["down"]
        acc = {}
        while time.time() - t_start < budget["down"]:
            batch = [sampler.one() for _ in range(b)]
            c = np.stack([x[1] for x in batch])
            nb = np.stack([x[2] for x in batch])
            alpha = rng.choice(ALPHAS, size=b) * rng.uniform(0.8, 1.2, size=b)
            beta = rng.uniform(0.01, 0.02, size=b)
            if not cfg.get("noise_gen", True):
                alpha, beta = 0.0 * alpha, 0.0 * beta  # clean c and p; same draws as with Noise-Gen
            c_t, patches = noise_gen(c, nb, alpha, beta, rng)
            ct, pt, tgt = (torch.from_numpy(x).to(dev) for x in (c_t, patches, c))
            for g in opt_d.param_groups:
                g["lr"] = lr_at(cfg["lr"], (time.time() - t_start) / budget["down"], steps["down"])
            pred = down(ct, pt)
            loss, parts = down_loss(pred, tgt)
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(down.parameters(), 1.0)
            opt_d.step()
            steps["down"] += 1
            parts["loss"] = loss.item()
            parts["copy_mse"] = float(((c_t - c) ** 2).sum(-1).mean())  # loss of returning c~
            for k, v in parts.items():
                acc[k] = acc.get(k, 0.0) + v
            if steps["down"] % 25 == 0:
                avg = {k: v / 25 for k, v in acc.items()}
                acc = {}
                last["down"] = avg
                log(logf, f"down step {steps['down']} t {time.time() - t_start:.0f}s " +
                    " ".join(f"{k} {v:.6f}" for k, v in avg.items()))
            elapsed["down"] = time.time() - t_start
            if time.time() - last_save > 60:
                save()
                last_save = time.time()
        stage = "up"
        save()
        log(logf, f"down done: {steps['down']} steps, {elapsed['down'] / 60:.1f} min")

    # ---------------- stage 2: Up-Net on the frozen Down-Net (eq. 9-14) ----------------
    down.eval()
    for p in down.parameters():
        p.requires_grad_(False)
    if stage == "up":
        up.train()
        t_start = time.time() - elapsed["up"]
        acc = {}
        gamma = cfg["up_ratio"]
        while time.time() - t_start < budget["up"]:
            batch = [sampler.one() for _ in range(b)]
            c = np.stack([x[1] for x in batch])
            nb = np.stack([x[2] for x in batch])
            alpha = np.where(rng.random(b) < 0.5, 0.0, 0.005 if cfg.get("noise_gen", True) else 0.0)
            c_t, patches = noise_gen(c, nb, alpha, 0.0, rng)
            with torch.no_grad():
                pc = down(torch.from_numpy(c_t).to(dev), torch.from_numpy(patches).to(dev))
            pc_np = pc.cpu().numpy()
            idx = up_indices(pc_np, cfg["up_neighbours"])
            gt_local = np.stack([x[0][x[3].query(pc_np[i], k=32)[1]] for i, x in enumerate(batch)])
            nbc = np.stack([knn_fast(p, p, 4) for p in pc_np])
            ins = [pc] + [torch.from_numpy(idx[k]).to(dev) for k in
                          ["l1_index", "l1_group", "l2_index", "l2_group", "l1_interp_index",
                           "l1_interp_weight", "l2_interp_index", "l2_interp_weight"]]
            for g in opt_u.param_groups:
                g["lr"] = lr_at(cfg["lr"], (time.time() - t_start) / budget["up"], steps["up"])
            out = up(*ins)
            loss, parts = up_loss(out, torch.from_numpy(gt_local.astype(np.float32)).to(dev),
                                  torch.from_numpy(nbc).to(dev), gamma)
            opt_u.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(up.parameters(), 1.0)
            opt_u.step()
            steps["up"] += 1
            parts["loss"] = loss.item()
            for k, v in parts.items():
                acc[k] = acc.get(k, 0.0) + v
            if steps["up"] % 25 == 0:
                avg = {k: v / 25 for k, v in acc.items()}
                acc = {}
                last["up"] = avg
                log(logf, f"up step {steps['up']} t {time.time() - t_start:.0f}s " +
                    " ".join(f"{k} {v:.6f}" for k, v in avg.items()))
            elapsed["up"] = time.time() - t_start
            if time.time() - last_save > 60:
                save()
                last_save = time.time()
        stage = "done"
        save()
        log(logf, f"up done: {steps['up']} steps, {elapsed['up'] / 60:.1f} min")
    log(logf, f"training finished: {json.dumps(steps)}")


if __name__ == "__main__":
    main()
