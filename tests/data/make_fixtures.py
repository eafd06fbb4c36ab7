"""Writes the small scans the Rust tests read, in every format a scanner may send.

Source: 2,048 points (stride sample) of ScanAD-dev bunny_positive0.pcd. Run from the repo root:
    tools/.venv/bin/python tests/data/make_fixtures.py ../shared/data/scanad-dev/bunny/test/bunny_positive0.pcd \
        ../shared/data/scanad-dev/bunny
Also 4,096 points of bunny_bulge0 with their labels from GT/bunny_bulge0.txt (bulge.pcd,
bulge_gt.txt) for the dataset tests; pass the ScanAD-dev bunny folder as the second argument.
The binary_compressed file is LZF-encoded with literal runs only (valid LZF, as PCL reads it);
back-references are exercised by a round trip through pcd-rs's writer in the tests.
"""
import struct
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent


def read_binary_pcd(path):
    data = Path(path).read_bytes()
    start = data.index(b"DATA binary\n") + len(b"DATA binary\n")
    return np.frombuffer(data[start:], dtype="<f4").reshape(-1, 3)


def pcd_header(n, fields, data):
    sizes = " ".join("4" for _ in fields)
    types = " ".join("F" for _ in fields)
    counts = " ".join("1" for _ in fields)
    return (f"# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS {' '.join(fields)}\n"
            f"SIZE {sizes}\nTYPE {types}\nCOUNT {counts}\nWIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\n"
            f"POINTS {n}\nDATA {data}\n").encode()


def lzf_literals(raw: bytes) -> bytes:
    out = bytearray()
    for i in range(0, len(raw), 32):
        chunk = raw[i:i + 32]
        out.append(len(chunk) - 1)
        out += chunk
    return bytes(out)


def main(source):
    pts = read_binary_pcd(source)
    pts = pts[(np.arange(2048) * len(pts)) // 2048].astype("<f4")
    n = len(pts)
    intensity = np.linspace(0, 1, n, dtype="<f4")

    ascii_rows = "".join(f"{x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in pts)
    (OUT / "scan_ascii.pcd").write_bytes(pcd_header(n, ["x", "y", "z"], "ascii") + ascii_rows.encode())
    (OUT / "scan_binary.pcd").write_bytes(pcd_header(n, ["x", "y", "z"], "binary") + pts.tobytes())
    columns = np.concatenate([pts[:, 0], pts[:, 1], pts[:, 2], intensity]).astype("<f4").tobytes()
    payload = lzf_literals(columns)
    (OUT / "scan_compressed.pcd").write_bytes(
        pcd_header(n, ["x", "y", "z", "intensity"], "binary_compressed")
        + struct.pack("<II", len(payload), len(columns)) + payload)

    ply_head = "ply\nformat {fmt} 1.0\ncomment dus-edge test scan\nelement vertex {n}\nproperty {t} x\nproperty {t} y\nproperty {t} z\nend_header\n"
    (OUT / "scan_ascii.ply").write_bytes(ply_head.format(fmt="ascii", n=n, t="float").encode() + ascii_rows.encode())
    (OUT / "scan_le.ply").write_bytes(ply_head.format(fmt="binary_little_endian", n=n, t="float").encode() + pts.tobytes())
    (OUT / "scan_be.ply").write_bytes(ply_head.format(fmt="binary_big_endian", n=n, t="double").encode()
                                      + pts.astype(">f8").tobytes())
    (OUT / "scan.xyz").write_text(ascii_rows)
    (OUT / "scan.csv").write_text("x,y,z\n" + "".join(f"{x:.6f},{y:.6f},{z:.6f}\n" for x, y, z in pts))
    np.savetxt(OUT / "scan_points.txt", pts, fmt="%.6f")  # the expected coordinates, for the tests


def labelled_defect(category_dir):
    pts = read_binary_pcd(Path(category_dir) / "test/bunny_bulge0.pcd")
    gt = np.loadtxt(Path(category_dir) / "GT/bunny_bulge0.txt", delimiter=",")
    assert np.allclose(gt[:, :3], pts, atol=1e-3), "GT rows follow the scan's points"
    idx = (np.arange(4096) * len(pts)) // 4096
    p, labels = pts[idx].astype("<f4"), gt[idx, 3].astype(int)
    (OUT / "bulge.pcd").write_bytes(pcd_header(len(p), ["x", "y", "z"], "binary") + p.tobytes())
    (OUT / "bulge_gt.txt").write_text("".join(f"{x:.6f} {y:.6f} {z:.6f} {l}\n" for (x, y, z), l in zip(p, labels)))


if __name__ == "__main__":
    main(sys.argv[1])
    labelled_defect(sys.argv[2])
