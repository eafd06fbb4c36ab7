//! Every scan format a scanner may write, read from real files; and every kind of bad file, each
//! refused with an error that names the file and the problem.

use std::path::{Path, PathBuf};

use dus_core::cloud::{self, CloudError, Problem};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn expected_points() -> Vec<[f32; 3]> {
    std::fs::read_to_string(data("scan_points.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Vec<f32> = l.split_whitespace().map(|f| f.parse().unwrap()).collect();
            [v[0], v[1], v[2]]
        })
        .collect()
}

fn assert_close(found: &[[f32; 3]], expected: &[[f32; 3]], tolerance: f32, what: &str) {
    assert_eq!(found.len(), expected.len(), "{what}: point count");
    for (i, (f, e)) in found.iter().zip(expected).enumerate() {
        for k in 0..3 {
            assert!((f[k] - e[k]).abs() <= tolerance, "{what}: point {i} is {f:?}, expected {e:?}");
        }
    }
}

#[test]
fn every_format_reads_the_same_scan() {
    let expected = expected_points();
    assert_eq!(expected.len(), 2048);
    for name in
        ["scan_ascii.pcd", "scan_binary.pcd", "scan_compressed.pcd", "scan_ascii.ply", "scan_le.ply", "scan_be.ply", "scan.xyz", "scan.csv"]
    {
        let cloud = cloud::read(&data(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Text formats hold 6 decimals; binary ones the exact f32 written.
        assert_close(cloud.points(), &expected, 1e-5, name);
        assert_eq!(cloud.skipped(), 0, "{name}");
    }
}

#[test]
fn binary_compressed_written_by_pcd_rs_reads_back() {
    use pcd_rs::{DataKind, DynRecord, Field, ValueKind, WriterInit};
    let expected = expected_points();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("compressed.pcd");
    let schema = vec![("x", ValueKind::F32, 1), ("y", ValueKind::F32, 1), ("z", ValueKind::F32, 1)];
    let mut writer = WriterInit {
        width: expected.len() as u64,
        height: 1,
        viewpoint: Default::default(),
        data_kind: DataKind::BinaryCompressed,
        schema: Some(pcd_rs::Schema::from_iter(schema)),
        version: None,
    }
    .create::<DynRecord, _>(&path)
    .unwrap();
    for p in &expected {
        writer.push(&DynRecord(p.iter().map(|&c| Field::F32(vec![c])).collect())).unwrap();
    }
    writer.finish().unwrap();
    let cloud = cloud::read(&path).unwrap();
    assert_close(cloud.points(), &expected, 0.0, "pcd-rs binary_compressed");
}

/// Fields beside x, y and z (before, between, of other types, several values each) in every
/// binary layout: the bulk readers must find each coordinate where the header puts it.
#[test]
fn binary_files_with_other_fields_read_their_coordinates() {
    use pcd_rs::{DataKind, DynRecord, Field, ValueKind, WriterInit};
    let expected = expected_points();
    let dir = tempfile::tempdir().unwrap();
    for kind in [DataKind::Binary, DataKind::BinaryCompressed] {
        let path = dir.path().join(format!("fields-{kind:?}.pcd"));
        let schema = vec![
            ("label", ValueKind::U8, 1),
            ("y", ValueKind::F64, 1),
            ("normal", ValueKind::F32, 3),
            ("x", ValueKind::F32, 1),
            ("z", ValueKind::F64, 1),
            ("ring", ValueKind::U16, 1),
        ];
        let init = WriterInit {
            width: expected.len() as u64,
            height: 1,
            viewpoint: Default::default(),
            data_kind: kind,
            schema: Some(pcd_rs::Schema::from_iter(schema)),
            version: None,
        };
        let mut writer = init.create::<DynRecord, _>(&path).unwrap();
        for (i, p) in expected.iter().enumerate() {
            let fields = vec![
                Field::U8(vec![(i % 200) as u8]),
                Field::F64(vec![f64::from(p[1])]),
                Field::F32(vec![9.0, -9.0, 0.5]),
                Field::F32(vec![p[0]]),
                Field::F64(vec![f64::from(p[2])]),
                Field::U16(vec![i as u16]),
            ];
            writer.push(&DynRecord(fields)).unwrap();
        }
        writer.finish().unwrap();
        assert_close(cloud::read(&path).unwrap().points(), &expected, 0.0, &format!("PCD {kind:?} with other fields"));
    }
    for big_endian in [false, true] {
        let n = expected.len();
        let format = if big_endian { "binary_big_endian" } else { "binary_little_endian" };
        let header = format!(
            "ply\nformat {format} 1.0\nelement vertex {n}\nproperty uchar label\nproperty double z\nproperty float x\nproperty short ring\nproperty float y\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n"
        );
        let mut bytes = header.into_bytes();
        for (i, p) in expected.iter().enumerate() {
            let order = |b: &[u8]| if big_endian { b.iter().rev().copied().collect::<Vec<_>>() } else { b.to_vec() };
            bytes.push(i as u8);
            bytes.extend(order(&f64::from(p[2]).to_le_bytes()));
            bytes.extend(order(&p[0].to_le_bytes()));
            bytes.extend(order(&(i as i16).to_le_bytes()));
            bytes.extend(order(&p[1].to_le_bytes()));
        }
        let (_dir, _, result) = read_bytes("fields.ply", &bytes);
        assert_close(result.unwrap().points(), &expected, 0.0, &format!("PLY {format} with other fields"));
    }
}

/// Writes `bytes` under `name` in a temporary folder and reads it back as a scan.
fn read_bytes(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf, Result<cloud::Cloud, CloudError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let result = cloud::read(&path);
    (dir, path, result)
}

/// Reads the bad file and checks the error names it and matches `expected`.
fn refused(name: &str, bytes: &[u8], expected: fn(&Problem) -> bool) -> String {
    let (_dir, path, result) = read_bytes(name, bytes);
    let error = result.expect_err(&format!("{name} must be refused"));
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "the error names the file: {message}");
    assert!(expected(&error.problem), "{name}: unexpected error kind: {message}");
    message
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap()
}

fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let at = bytes.windows(from.len()).position(|w| w == from.as_bytes()).expect("pattern in fixture");
    [&bytes[..at], to.as_bytes(), &bytes[at + from.len()..]].concat()
}

#[test]
fn truncated_binary_pcd_is_refused() {
    let bytes = fixture("scan_binary.pcd");
    let message = refused("cut.pcd", &bytes[..bytes.len() - 100], |p| matches!(p, Problem::SizeMismatch { .. }));
    assert!(message.contains("2048 points"), "{message}");
}

#[test]
fn pcd_header_claiming_ten_billion_points_is_refused_before_allocating() {
    let bytes = replace(&fixture("scan_binary.pcd"), "POINTS 2048", "POINTS 10000000000");
    let bytes = replace(&bytes, "WIDTH 2048", "WIDTH 10000000000");
    refused("huge.pcd", &bytes, |p| matches!(p, Problem::TooLarge(10_000_000_000)));
}

#[test]
fn pcd_header_claiming_more_points_than_present_is_refused() {
    let bytes = replace(&replace(&fixture("scan_binary.pcd"), "POINTS 2048", "POINTS 4096"), "WIDTH 2048", "WIDTH 4096");
    refused("lying.pcd", &bytes, |p| matches!(p, Problem::SizeMismatch { .. }));
    let ascii = replace(&replace(&fixture("scan_ascii.pcd"), "POINTS 2048", "POINTS 4096"), "WIDTH 2048", "WIDTH 4096");
    refused("lying_ascii.pcd", &ascii, |p| matches!(p, Problem::SizeMismatch { .. } | Problem::Data(_)));
}

#[test]
fn pcd_holding_more_data_than_its_header_claims_is_refused_not_cut() {
    // A scan read as its first POINTS points would be judged on part of itself.
    for name in ["scan_binary.pcd", "scan_ascii.pcd"] {
        let fewer = replace(&replace(&fixture(name), "POINTS 2048", "POINTS 1024"), "WIDTH 2048", "WIDTH 1024");
        let message = refused(name, &fewer, |p| matches!(p, Problem::SizeMismatch { .. }));
        assert!(message.contains("1024 points"), "{message}");
    }
}

#[test]
fn pcd_whose_width_and_height_disagree_with_points_is_refused() {
    let bytes = replace(&fixture("scan_binary.pcd"), "WIDTH 2048", "WIDTH 1000");
    let message = refused("grid.pcd", &bytes, |p| matches!(p, Problem::SizeMismatch { .. }));
    assert!(message.contains("WIDTH 1000 x HEIGHT 1") && message.contains("POINTS 2048"), "{message}");
}

#[test]
fn pcd_field_counts_that_would_overflow_are_refused_in_every_encoding() {
    // COUNT values whose product with SIZE and POINTS overflows made `pcd-rs` panic (binary,
    // binary_compressed) or loop forever (ascii).
    for name in ["scan_binary.pcd", "scan_compressed.pcd", "scan_ascii.pcd"] {
        let bytes = replace(&fixture(name), "COUNT 1 1 1", "COUNT 1 1 4611686018427387904");
        let message = refused(name, &bytes, |p| matches!(p, Problem::Header(_)));
        assert!(message.contains("field 'z' has COUNT 4611686018427387904"), "{message}");
    }
}

#[test]
fn ascii_pcd_lines_of_the_wrong_width_are_refused_with_the_line() {
    let bytes = replace(&fixture("scan_ascii.pcd"), "COUNT 1 1 1", "COUNT 1 1 2");
    let message = refused("wide.pcd", &bytes, |p| matches!(p, Problem::Data(_)));
    assert!(message.contains("data line 1 has 3 values, the header says 4"), "{message}");
}

#[test]
fn binary_compressed_with_lying_or_broken_sizes_is_refused() {
    let bytes = fixture("scan_compressed.pcd");
    let data_at = bytes.windows(22).position(|w| w == b"DATA binary_compressed").unwrap() + 23;
    // Uncompressed size that does not match the header's points.
    let mut wrong = bytes.clone();
    wrong[data_at + 4..data_at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    refused("usize.pcd", &wrong, |p| matches!(p, Problem::SizeMismatch { .. }));
    // Compressed size beyond the end of the file.
    let mut long = bytes.clone();
    long[data_at..data_at + 4].copy_from_slice(&(u32::MAX - 9).to_le_bytes());
    refused("csize.pcd", &long, |p| matches!(p, Problem::SizeMismatch { .. }));
    // Payload cut short.
    refused("cut_c.pcd", &bytes[..bytes.len() - 500], |p| matches!(p, Problem::SizeMismatch { .. } | Problem::Data(_)));
    // Size words missing altogether.
    refused("nowords.pcd", &bytes[..data_at + 3], |p| matches!(p, Problem::Data(_)));
    // A header and size words agreeing on 1,000x the points, more than LZF can expand the data to:
    // refused before anything of that size is allocated.
    let mut inflated = replace(&replace(&bytes, "POINTS 2048", "POINTS 2048000"), "WIDTH 2048", "WIDTH 2048000");
    let at = data_at + 6;
    inflated[at + 4..at + 8].copy_from_slice(&(2_048_000u32 * 16).to_le_bytes());
    let message = refused("inflated.pcd", &inflated, |p| matches!(p, Problem::SizeMismatch { .. }));
    assert!(message.contains("LZF cannot expand"), "{message}");
    // Compressed bytes scrambled: the decompressor's error, not a panic.
    let mut scrambled = bytes.clone();
    for b in &mut scrambled[data_at + 8..data_at + 200] {
        *b = 0xff;
    }
    refused("scrambled.pcd", &scrambled, |p| matches!(p, Problem::Data(_) | Problem::SizeMismatch { .. }));
}

#[test]
fn garbage_and_empty_pcd_files_are_refused() {
    refused("empty.pcd", b"", |p| matches!(p, Problem::Header(_)));
    refused("noise.pcd", &[0xffu8; 4000], |p| matches!(p, Problem::Header(_)));
    let no_z = replace(&fixture("scan_ascii.pcd"), "FIELDS x y z", "FIELDS x y w");
    refused("no_z.pcd", &no_z, |p| matches!(p, Problem::Header(m) if m.contains("'z'")));
    let zero = replace(&replace(&fixture("scan_binary.pcd"), "POINTS 2048", "POINTS 0"), "WIDTH 2048", "WIDTH 0");
    refused("zero_with_data.pcd", &zero, |p| matches!(p, Problem::SizeMismatch { .. }));
    let header_only = &zero[..zero.windows(12).position(|w| w == b"DATA binary\n").unwrap() + 12];
    refused("zero.pcd", header_only, |p| matches!(p, Problem::Empty { skipped: 0 }));
}

#[test]
fn nan_and_inf_points_are_left_out_and_an_all_nan_scan_is_refused() {
    let text = String::from_utf8(fixture("scan_ascii.pcd")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let first_point = lines.iter().position(|l| l.starts_with("DATA")).unwrap() + 1;
    lines[first_point] = "nan nan nan".into();
    lines[first_point + 1] = "1.0 inf 2.0".into();
    let (_dir, _path, result) = read_bytes("nan.pcd", (lines.join("\n") + "\n").as_bytes());
    let cloud = result.unwrap();
    assert_eq!((cloud.len(), cloud.skipped()), (2046, 2));
    assert!(cloud.points().iter().flatten().all(|c| c.is_finite()));

    let header =
        "ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\nend_header\n";
    let values = [f32::NAN, 0.0, 0.0, 0.0, f32::INFINITY, 0.0];
    let all_nan = [header.as_bytes(), &values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()].concat();
    let message = refused("nan.ply", &all_nan, |p| matches!(p, Problem::Empty { skipped: 2 }));
    assert!(message.contains("no finite points"), "{message}");
}

#[test]
fn ply_elements_claiming_more_rows_than_the_file_holds_are_refused_before_parsing() {
    let head = |encoding: &str, junk: &str| {
        format!("ply\nformat {encoding} 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n{junk}end_header\n")
    };
    let vertices: Vec<u8> = (0..9).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let with = |header: String, payload: &[u8]| [header.as_bytes(), payload].concat();
    // Four billion one-byte rows after 36 bytes of vertices.
    let rows = with(head("binary_little_endian", "element junk 4000000000\nproperty uchar a\n"), &vertices);
    let message = refused("rows.ply", &rows, |p| matches!(p, Problem::SizeMismatch { .. }));
    assert!(message.contains("4000000036 bytes") && message.contains("36 bytes after the header"), "{message}");
    // Four billion rows of nothing: no bytes to hold them against.
    let empty = with(head("binary_little_endian", "element junk 4000000000\n"), &vertices);
    let message = refused("empty.ply", &empty, |p| matches!(p, Problem::Header(_)));
    assert!(message.contains("element 'junk' has no properties but 4000000000 rows"), "{message}");
    let ascii = with(head("ascii", "element junk 4000000000\n"), b"0 1 2\n3 4 5\n6 7 8\n");
    refused("empty_ascii.ply", &ascii, |p| matches!(p, Problem::SizeMismatch { .. }));
    // The same file with honest counts reads.
    let honest = with(head("binary_little_endian", ""), &vertices);
    let (_dir, _path, result) = read_bytes("honest.ply", &honest);
    assert_eq!(result.unwrap().points(), &[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]);
}

#[test]
fn folders_and_fifos_are_refused_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("scan.pcd");
    std::fs::create_dir(&folder).unwrap();
    let message = cloud::read(&folder).unwrap_err().to_string();
    assert!(message.contains("a folder, not a scan file"), "{message}");
    let fifo = dir.path().join("fifo.xyz");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // Opening a FIFO for reading would block until a writer came: it must not be opened at all.
    let message = cloud::read(&fifo).unwrap_err().to_string();
    assert!(message.contains("not a regular file (a FIFO, socket or device)"), "{message}");
}

#[test]
fn bad_ply_files_are_refused() {
    let bytes = fixture("scan_le.ply");
    refused("cut.ply", &bytes[..bytes.len() - 7], |p| matches!(p, Problem::Data(_) | Problem::SizeMismatch { .. }));
    let huge = replace(&bytes, "element vertex 2048", "element vertex 10000000000");
    refused("huge.ply", &huge, |p| matches!(p, Problem::Data(_) | Problem::TooLarge(_) | Problem::SizeMismatch { .. }));
    let no_z = replace(&fixture("scan_ascii.ply"), "property float z", "property float w");
    refused("no_z.ply", &no_z, |p| matches!(p, Problem::Header(m) if m.contains("'z'")));
    refused("garbage.ply", b"ply\nformat banana 1.0\n", |p| matches!(p, Problem::Header(_)));
}

#[test]
fn bad_text_scans_are_refused_with_the_line() {
    let message = refused("bad.xyz", b"1 2 3\n4 5 6\n7 eight 9\n", |p| matches!(p, Problem::Data(_)));
    assert!(message.contains("line 3"), "{message}");
    refused("empty.xyz", b"# nothing here\n\n", |p| matches!(p, Problem::Empty { .. }));
    refused("short.csv", b"x,y,z\n1,2\n", |p| matches!(p, Problem::Data(m) if m.contains("line 2")));
}

#[test]
fn unknown_and_missing_files_are_refused() {
    refused("scan.stl", b"solid x\n", |p| matches!(p, Problem::UnknownFormat(e) if e == "stl"));
    let missing = Path::new("/nonexistent/scan.pcd");
    let error = cloud::read(missing).unwrap_err();
    assert!(matches!(error.problem, Problem::Io(_)));
    assert!(error.to_string().starts_with("/nonexistent/scan.pcd: cannot read the file"), "{error}");
}

#[test]
fn heatmap_ply_reads_back_with_the_scan_points() {
    let cloud = cloud::read(&data("scan_binary.pcd")).unwrap();
    let scores: Vec<f32> = (0..cloud.len()).map(|i| i as f32 / 100.0).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heat.ply");
    cloud::write_heatmap(&path, cloud.points(), &scores, 10.0).unwrap();
    let back = cloud::read(&path).unwrap();
    assert_close(back.points(), cloud.points(), 0.0, "heatmap");
    let header = String::from_utf8_lossy(&std::fs::read(&path).unwrap()[..300]).to_string();
    for property in ["property float scalar_score", "property uchar red", "format binary_little_endian"] {
        assert!(header.contains(property), "heatmap header lacks {property}: {header}");
    }
}
