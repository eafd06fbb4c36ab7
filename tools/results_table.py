#!/usr/bin/env python3
"""Print the per-category results table (markdown) from models/*/model.toml [eval]/[training]."""
import glob
import os
import sys
import tomllib

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "models")
rows, acc = [], {"d": [], "g": []}
print("| part | DUS-Net O-AUROC | P-AUROC | O-AUPR | P-AUPR | golden O-AUROC | P-AUROC | O-AUPR | P-AUPR "
      "| Down steps / min | Up steps / min |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for f in sorted(glob.glob(os.path.join(root, "*", "model.toml"))):
    t = tomllib.load(open(f, "rb"))
    e, tr = t.get("eval", {}), t.get("training", {})
    if "o_auroc" not in e:
        continue
    d = [e[k] for k in ("o_auroc", "p_auroc", "o_aupr", "p_aupr")]
    g = [e[f"golden_{k}"] for k in ("o_auroc", "p_auroc", "o_aupr", "p_aupr")]
    acc["d"].append(d)
    acc["g"].append(g)
    print(f"| {t['model']['name']} | " + " | ".join(f"{x:.3f}" for x in d + g) +
          f" | {tr.get('down_steps')} / {tr.get('down_minutes')} | {tr.get('up_steps')} / {tr.get('up_minutes')} |")
if acc["d"]:
    n = len(acc["d"])
    md = [sum(r[i] for r in acc["d"]) / n for i in range(4)]
    mg = [sum(r[i] for r in acc["g"]) / n for i in range(4)]
    print(f"| **mean ({n})** | " + " | ".join(f"{x:.3f}" for x in md + mg) + " | | |")
