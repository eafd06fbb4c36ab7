"""Minimal TOML writer for model.toml (read with tomllib)."""
from __future__ import annotations

import math


def _val(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_val(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_val(x)}" for k, x in v.items()) + " }"
    if hasattr(v, "item"):
        return _val(v.item())
    raise TypeError(f"cannot write {type(v)} to TOML")


def dumps(doc: dict) -> str:
    out = []
    for table, body in doc.items():
        out.append(f"[{table}]")
        for k, v in body.items():
            out.append(f"{k} = {_val(v)}")
        out.append("")
    return "\n".join(out)
