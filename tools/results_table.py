#!/usr/bin/env python3
"""Print the README's per-part tables (markdown) from <root>/*/model.toml:
training cost + held-out reconstruction error, inference-time ablations, and [eval] if present.

  python tools/results_table.py [models | runs]
"""
import glob
import os
import sys
import tomllib

REC = ("recon_median_mm", "recon_p99_mm", "recon_back_median_mm", "recon_back_p99_mm")
ABL = ("shipped", "field_only_down", "up_untrained_residual", "up_ball_spread", "up_project_2",
       "up_project_1", "up_project_0")
EVAL = ("o_auroc", "p_auroc", "o_aupr", "p_aupr")


def load(root):
    out = []
    for f in sorted(glob.glob(os.path.join(root, "*", "model.toml"))):
        with open(f, "rb") as fh:
            t = tomllib.load(fh)
        size = sum(os.path.getsize(os.path.join(dp, n)) for dp, _, ns in os.walk(os.path.dirname(f))
                   for n in ns if n != "ckpt.pt")
        out.append((t, size))
    return out


def fmt(r):
    return " / ".join(f"{r[k]:.3f}" for k in REC)


def cost_table(docs):
    print("| part | field steps / min | Down-Net steps / min | Up-Net steps / min | total min "
          "| held-out -> recon median / p99, recon -> template median / p99 (mm) | folder MB |")
    print("|---|---|---|---|---|---|---|")
    for t, size in docs:
        tr = t["training"]
        if "recon_median_mm" not in tr:
            continue
        stages = " | ".join(f"{tr[s + '_steps']} / {tr[s + '_minutes']}" for s in ("field", "down", "up"))
        print(f"| {t['model']['name']} | {stages} | {tr['total_minutes']} | {fmt(tr)} | {size / 2**20:.1f} |")


def ablation_table(docs):
    print("| part | " + " | ".join(ABL) + " |")
    print("|---|" + "---|" * len(ABL))
    for t, _ in docs:
        tr = t["training"]
        if "ablations" not in tr:
            continue
        rows = {"shipped": tr, **tr["ablations"]}
        print(f"| {t['model']['name']} | " + " | ".join(fmt(rows[a]) if a in rows else "-" for a in ABL) + " |")


def eval_table(docs):
    rows = [(t["model"]["name"], t["eval"]) for t, _ in docs if "o_auroc" in t.get("eval", {})]
    if not rows:
        return
    print("| part | DUS-Net O-AUROC | P-AUROC | O-AUPR | P-AUPR | golden O-AUROC | P-AUROC | O-AUPR | P-AUPR |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, e in rows:
        vals = [e[k] for k in EVAL] + [e.get(f"golden_{k}", float("nan")) for k in EVAL]
        print(f"| {name} | " + " | ".join(f"{x:.3f}" for x in vals) + " |")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "models")
    docs = load(root)
    for table in (cost_table, ablation_table, eval_table):
        table(docs)
        print()


if __name__ == "__main__":
    main()
