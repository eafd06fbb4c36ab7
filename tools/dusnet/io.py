"""PCD read (ascii, binary, binary_compressed/LZF) and binary PCD write."""
from __future__ import annotations

import numpy as np

_TYPES = {("F", 4): "<f4", ("F", 8): "<f8", ("I", 1): "<i1", ("I", 2): "<i2", ("I", 4): "<i4",
          ("I", 8): "<i8", ("U", 1): "<u1", ("U", 2): "<u2", ("U", 4): "<u4", ("U", 8): "<u8"}


def lzf_decompress(data: bytes, out_len: int) -> bytes:
    """Plain-Python LZF decompressor (liblzf format, as used by PCL binary_compressed)."""
    src = memoryview(data)
    out = bytearray(out_len)
    ip = 0
    op = 0
    n = len(src)
    while ip < n:
        ctrl = src[ip]
        ip += 1
        if ctrl < 32:  # literal run of ctrl + 1 bytes
            ln = ctrl + 1
            if op + ln > out_len or ip + ln > n:
                raise ValueError("lzf: literal run out of bounds")
            out[op:op + ln] = src[ip:ip + ln]
            op += ln
            ip += ln
        else:  # back reference
            ln = ctrl >> 5
            ref = op - ((ctrl & 0x1F) << 8) - 1
            if ln == 7:
                ln += src[ip]
                ip += 1
            ref -= src[ip]
            ip += 1
            ln += 2
            if ref < 0 or op + ln > out_len:
                raise ValueError("lzf: back reference out of bounds")
            if ref + ln <= op:  # non-overlapping: slice copy
                out[op:op + ln] = out[ref:ref + ln]
                op += ln
            else:  # overlapping copy, byte by byte
                for _ in range(ln):
                    out[op] = out[ref]
                    op += 1
                    ref += 1
    if op != out_len:
        raise ValueError(f"lzf: decompressed {op} bytes, expected {out_len}")
    return bytes(out)


def read_pcd(path) -> np.ndarray:
    """Read the x, y, z fields of a PCD file as float32 [N, 3]."""
    with open(path, "rb") as f:
        raw = f.read()
    header = {}
    pos = 0
    while True:
        end = raw.index(b"\n", pos)
        line = raw[pos:end].decode("ascii", "replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *vals = line.split()
        header[key.upper()] = vals
        if key.upper() == "DATA":
            break
    fields = header["FIELDS"]
    sizes = [int(s) for s in header["SIZE"]]
    types = header["TYPE"]
    counts = [int(c) for c in header.get("COUNT", ["1"] * len(fields))]
    npts = int(header["POINTS"][0]) if "POINTS" in header else \
        int(header["WIDTH"][0]) * int(header["HEIGHT"][0])
    kind = header["DATA"][0].lower()
    cols = {}
    if kind == "ascii":
        text = raw[pos:].decode("ascii")
        arr = np.loadtxt(text.splitlines(), dtype=np.float64, ndmin=2)[:npts]
        c = 0
        for name, cnt in zip(fields, counts):
            cols[name] = arr[:, c]
            c += cnt
    elif kind == "binary":
        dt = np.dtype([(f"{n}_{i}" if cnt > 1 else n, _TYPES[(t, s)], (cnt,) if cnt > 1 else ())
                       for i, (n, s, t, cnt) in enumerate(zip(fields, sizes, types, counts))])
        rec = np.frombuffer(raw, dtype=dt, count=npts, offset=pos)
        for n in ("x", "y", "z"):
            cols[n] = rec[n]
    elif kind == "binary_compressed":
        csize, usize = np.frombuffer(raw, dtype="<u4", count=2, offset=pos)
        data = lzf_decompress(raw[pos + 8:pos + 8 + int(csize)], int(usize))
        off = 0
        for n, s, t, cnt in zip(fields, sizes, types, counts):  # column-major (SoA)
            nbytes = npts * s * cnt
            col = np.frombuffer(data, dtype=_TYPES[(t, s)], count=npts * cnt, offset=off)
            if cnt == 1:
                cols[n] = col
            off += nbytes
    else:
        raise ValueError(f"unsupported PCD DATA {kind}")
    return np.stack([np.asarray(cols[n], dtype=np.float32) for n in ("x", "y", "z")], axis=1)


def write_pcd(path, pts) -> None:
    """Write float32 x y z as a binary PCD."""
    pts = np.ascontiguousarray(pts, dtype="<f4")
    n = len(pts)
    head = ("# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z\n"
            "SIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"
            f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA binary\n")
    with open(path, "wb") as f:
        f.write(head.encode("ascii"))
        f.write(pts.tobytes())
