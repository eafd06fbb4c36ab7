"""Anchors of `edge-tool bench`: each stage done by the tool people reach for, on the same file.

  python anchors.py SCAN.pcd REFERENCE.pcd MODEL_DIR CENTERS.npy RMS_RADIUS REPEAT

SCAN and REFERENCE are binary x y z float32 PCD files (what `edge-tool bench` writes and
`reference.pcd` is); CENTERS holds the FPS indices dus-edge picked (the KNN queries). Prints one
JSON object of median milliseconds; an anchor whose package is not installed is left out.
"""
import json
import sys
import time

import numpy as np

ICP_SAMPLE = 4096  # models/README.md, registration step 1


def median_ms(work, repeat):
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = work()
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2], out


def read_pcd(path):
    """numpy reading a binary x y z float32 PCD: find the DATA line, view the rest."""
    data = open(path, "rb").read()
    start = data.index(b"DATA binary\n") + len(b"DATA binary\n")
    return np.frombuffer(data, dtype="<f4", offset=start).reshape(-1, 3)


def main():
    scan_path, reference_path, model, centers_path = sys.argv[1:5]
    radius, repeat = float(sys.argv[5]), int(sys.argv[6])
    out = {}
    out["numpy_read_ms"], points = median_ms(lambda: read_pcd(scan_path), repeat)
    centers = np.load(centers_path)
    try:
        import fpsample
        ms, picked = median_ms(lambda: fpsample.bucket_fps_kdline_sampling(points, len(centers), h=7, start_idx=0), repeat)
        out["fpsample"] = {"ms": ms, "indices": [int(i) for i in picked]}
    except ImportError:
        pass
    try:
        from pykdtree.kdtree import KDTree
        queries = points[centers]
        out["pykdtree_ms"], _ = median_ms(lambda: KDTree(points).query(queries, k=32), repeat)
    except ImportError:
        pass
    try:
        out["small_gicp"] = small_gicp(points, read_pcd(reference_path), radius, repeat)
    except ImportError:
        pass
    try:
        from dusnet.reference import Model
        m = Model(model)
        out["python_reference_ms"], _ = median_ms(lambda: m.infer(points), min(repeat, 3))
    except ImportError:
        pass
    print(json.dumps(out))


def small_gicp(points, reference, radius, repeat):
    """small_gicp point-to-plane ICP of the same ICP sample onto the reference, started where
    dus-edge starts (centroids matched). The reference's normals and k-d tree are made once,
    outside the timing, as dus-edge indexes its reference when the model loads."""
    import small_gicp as sg
    n = len(points)
    sample = points[[i * n // ICP_SAMPLE for i in range(ICP_SAMPLE)] if n > ICP_SAMPLE else slice(None)].astype(np.float64)
    target, tree = sg.preprocess_points(reference.astype(np.float64), downsampling_resolution=1e-4 * radius, num_threads=2)
    init = np.eye(4)
    init[:3, 3] = reference.astype(np.float64).mean(axis=0) - sample.mean(axis=0)

    def align():
        return sg.align(target, sg.PointCloud(sample), tree, init, registration_type="PLANE_ICP",
                        max_correspondence_distance=0.1 * radius, num_threads=2, max_iterations=50)

    ms, result = median_ms(align, repeat)
    return {"ms": ms, "pose": np.asarray(result.T_target_source).tolist(), "iterations": int(result.iterations)}


if __name__ == "__main__":
    main()
