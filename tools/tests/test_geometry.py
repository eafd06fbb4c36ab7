import numpy as np
from scipy.spatial.transform import Rotation

from dusnet import geometry
from dusnet.geometry import fps, fps_fast, icp, knn, stride_indices, apply_rigid
from dusnet.indices import up_indices
from dusnet.io import lzf_decompress, read_pcd, write_pcd


def test_fps_rule_small_case():
    p = np.array([[0, 0, 0], [1, 0, 0], [3, 0, 0], [3, 0, 0], [0, 2, 0]], dtype=np.float32)
    # start 0; farthest from 0 is index 2 (d2 = 9, first of the tie with 3);
    # then dist = min(d0, d2): [0, 1, 0, 0, 4] -> 4; then [0, 1, 0, 0, 0] -> 1
    assert fps(p, 4).tolist() == [0, 2, 4, 1]


def test_fps_matches_bruteforce_reference():
    rng = np.random.default_rng(1)
    p = rng.normal(size=(300, 3)).astype(np.float32)
    idx = fps(p, 40)
    assert idx[0] == 0 and len(set(idx.tolist())) == 40
    dist = np.full(300, np.inf, dtype=np.float32)
    cur = 0
    for s in range(40):
        assert idx[s] == cur
        for i in range(300):
            d = p[i] - p[cur]
            dist[i] = min(dist[i], np.float32((d[0] * d[0] + d[1] * d[1]) + d[2] * d[2]))
        cur = int(np.argmax(dist))


def test_fps_fast_without_fpsample_is_the_exact_rule(monkeypatch):
    # A GPU machine with only the stock PyTorch has no fpsample: training must still run there.
    monkeypatch.setattr(geometry, "fpsample", None)
    p = np.random.default_rng(2).normal(size=(500, 3)).astype(np.float32)
    idx = fps_fast(p, 32)
    assert idx.dtype == np.int64 and idx.tolist() == fps(p, 32).tolist()


def test_knn_ties_by_index_and_self_first():
    p = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [5, 5, 5]], dtype=np.float32)
    assert knn(p[:1], p, 4).tolist() == [[0, 1, 2, 3]]
    rng = np.random.default_rng(2)
    q = rng.normal(size=(500, 3)).astype(np.float32)
    out = knn(q[:50], q, 8)
    assert (out[:, 0] == np.arange(50)).all()
    d = ((q[:50, None] - q[None]) ** 2).sum(-1)
    ref = np.argsort(d, axis=1, kind="stable")[:, :8]
    assert (out == ref).all()


def test_stride():
    assert stride_indices(10, 4).tolist() == [0, 2, 5, 7]
    assert stride_indices(3, 4).tolist() == [0, 1, 2]


def test_icp_recovers_small_motion():
    rng = np.random.default_rng(3)
    ref = rng.uniform(-50, 50, size=(3000, 3)) * np.array([1.0, 0.6, 0.3])
    r_true = Rotation.from_euler("xyz", [2.0, -3.0, 1.5], degrees=True).as_matrix()
    t_true = np.array([2.0, -1.0, 3.0])
    scan = (ref - t_true) @ r_true  # ref = R scan + t
    r, t = icp(scan, ref)
    assert np.abs(r - r_true).max() < 1e-3
    assert np.abs(t - t_true).max() < 1e-2
    assert np.abs(apply_rigid(scan, r, t) - ref).max() < 1e-2


def test_up_indices_shapes_ranges():
    rng = np.random.default_rng(4)
    c = rng.normal(size=(2, 64, 3)).astype(np.float32)
    idx = up_indices(c, 8)
    assert idx["l1_index"].shape == (2, 32) and idx["l1_index"].max() < 64
    assert idx["l1_group"].shape == (2, 32, 8) and idx["l1_group"].max() < 64
    assert idx["l2_index"].shape == (2, 16) and idx["l2_index"].max() < 32
    assert idx["l2_group"].shape == (2, 16, 8) and idx["l2_group"].max() < 32
    assert idx["l1_interp_index"].shape == (2, 64, 3) and idx["l1_interp_index"].max() < 32
    assert idx["l2_interp_index"].shape == (2, 64, 3) and idx["l2_interp_index"].max() < 16
    for k in ("l1_interp_weight", "l2_interp_weight"):
        w = idx[k]
        assert w.dtype == np.float32 and (w >= 0).all()
        assert np.allclose(w.sum(-1), 1, atol=1e-5)
    assert (idx["l1_index"][:, 0] == 0).all() and idx["l1_index"].dtype == np.int64
    # level-1 point's own group starts with itself
    assert (idx["l1_group"][0, :, 0] == idx["l1_index"][0]).all()


def test_pcd_roundtrip_and_lzf(tmp_path):
    p = np.random.default_rng(5).normal(size=(100, 3)).astype(np.float32)
    write_pcd(tmp_path / "a.pcd", p)
    assert (read_pcd(tmp_path / "a.pcd") == p).all()
    with open(tmp_path / "b.pcd", "w") as f:
        f.write("VERSION .7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 2\nHEIGHT 1\n"
                "POINTS 2\nDATA ascii\n1 2 3\n4 5 6\n")
    assert read_pcd(tmp_path / "b.pcd").tolist() == [[1, 2, 3], [4, 5, 6]]
    # LZF: literal "abc" then back reference (len 3+2... ) -> "abcabcab"
    comp = bytes([2]) + b"abc" + bytes([(3 << 5) | 0, 2])  # len=3+2=5, offset 3
    assert lzf_decompress(comp, 8) == b"abcabcab"
    # binary_compressed with a literal-only LZF stream (SoA layout)
    raw = np.concatenate([p[:4, 0], p[:4, 1], p[:4, 2]]).astype("<f4").tobytes()
    chunks = b"".join(bytes([len(raw[i:i + 32]) - 1]) + raw[i:i + 32] for i in range(0, len(raw), 32))
    head = ("VERSION .7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 4\nHEIGHT 1\n"
            "POINTS 4\nDATA binary_compressed\n").encode()
    with open(tmp_path / "c.pcd", "wb") as f:
        f.write(head + np.array([len(chunks), len(raw)], "<u4").tobytes() + chunks)
    assert (read_pcd(tmp_path / "c.pcd") == p[:4]).all()
