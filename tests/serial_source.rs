//! The serial source over a real pseudo-terminal pair: the test writes frames into the master as a
//! scanner would, the source reads the slave through the `serialport` crate. The source is given a
//! symlink to the slave, so the test can make the port vanish and come back as a USB adapter does.
#![cfg(target_os = "linux")]

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dus_box::daemon::frame::{encode, MAGIC, VERSION};
use dus_box::daemon::serial::SerialSource;
use dus_box::daemon::source::{Arrival, Poll, Source};
use support::pty::{point_port_at, Pty};

/// Long enough for a loaded two-core box; a passing run waits only as long as the bytes take.
const PATIENCE: Duration = Duration::from_secs(10);
const BAUD: u32 = 921_600;

fn next_part(source: &mut SerialSource) -> Arrival {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        match source.poll(Duration::from_millis(100)) {
            Poll::Part(taken) => return taken.read(None),
            Poll::Idle => {}
            Poll::Finished => panic!("a serial source never finishes"),
        }
    }
    panic!("no part arrived within {PATIENCE:?}");
}

fn scan_points(arrival: &Arrival) -> &[[f32; 3]] {
    match &arrival.scan {
        Ok(cloud) => cloud.points(),
        Err(e) => panic!("part {} arrived unreadable: {e}", arrival.part),
    }
}

fn scan_error(arrival: &Arrival) -> &str {
    match &arrival.scan {
        Err(e) => e,
        Ok(_) => panic!("part {} arrived readable, expected an error", arrival.part),
    }
}

fn cloud(n: usize, offset: f32) -> Vec<[f32; 3]> {
    (0..n).map(|i| [offset + i as f32, 0.5 * i as f32, -(i as f32) / 3.0]).collect()
}

fn setup(max_points: u32) -> (tempfile::TempDir, PathBuf, Pty, SerialSource) {
    let _ = env_logger::builder().is_test(true).try_init();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("scanner");
    let pty = Pty::open();
    point_port_at(&link, &pty);
    let source = SerialSource::new(link.clone(), BAUD, max_points);
    (dir, link, pty, source)
}

#[test]
fn two_frames_arrive_as_two_parts_with_their_points() {
    let (_dir, link, mut pty, mut source) = setup(50_000);
    assert_eq!(source.describe(), format!("serial {} at 921600 baud", link.display()));
    let (small, large) = (cloud(3, 1.0), cloud(30_000, -7.0));
    pty.send(&encode("A-1", &small));
    let writer = pty.send_in_background(encode("A-2", &large));

    let first = next_part(&mut source);
    assert_eq!(first.part, "A-1");
    assert_eq!(scan_points(&first), small);
    assert_eq!(first.origin, format!("serial {}", link.display()));
    assert!(first.settle.is_none());
    let second = next_part(&mut source);
    assert_eq!(second.part, "A-2");
    assert_eq!(scan_points(&second), large, "a frame larger than the pty buffer arrives whole");
    writer.join().unwrap();
    assert_eq!(source.garbage_bytes(), 0);
}

#[test]
fn a_corrupted_frame_arrives_as_its_part_with_an_error_and_garbage_is_counted() {
    let (_dir, _link, mut pty, mut source) = setup(1000);
    let noise = b"\x00\xff\r\nnoise DU";
    let mut corrupted = encode("B-1", &cloud(4, 0.0));
    corrupted[25] ^= 0x10;
    pty.send(&[noise.as_slice(), &corrupted, &encode("B-2", &cloud(2, 9.0))].concat());

    let bad = next_part(&mut source);
    assert_eq!(bad.part, "B-1");
    assert!(scan_error(&bad).contains("CRC"), "{}", scan_error(&bad));
    let good = next_part(&mut source);
    assert_eq!(good.part, "B-2");
    assert_eq!(scan_points(&good), cloud(2, 9.0));
    assert_eq!(source.garbage_bytes(), noise.len() as u64);
}

#[test]
fn an_oversized_point_count_is_refused_by_the_limit() {
    let (_dir, _link, mut pty, mut source) = setup(1000);
    let mut huge = MAGIC.to_vec();
    huge.extend_from_slice(&[VERSION, 3]);
    huge.extend_from_slice(b"C-1");
    huge.extend_from_slice(&4_000_000_000u32.to_le_bytes());
    huge.extend_from_slice(&[0x42; 64]);
    pty.send(&[huge, encode("C-2", &cloud(5, 2.0))].concat());

    let refused = next_part(&mut source);
    assert_eq!(refused.part, "C-1");
    let reason = scan_error(&refused);
    assert!(reason.contains("4000000000") && reason.contains("limit of 1000"), "{reason}");
    let next = next_part(&mut source);
    assert_eq!(next.part, "C-2");
    assert_eq!(scan_points(&next), cloud(5, 2.0));
}

#[test]
fn a_frame_cut_off_by_a_silent_line_is_rejected_and_the_next_still_arrives() {
    let (_dir, _link, mut pty, mut source) = setup(1000);
    let mut cut = encode("D-1", &cloud(50, 0.0));
    cut.truncate(100);
    pty.send(&cut);
    pty.send(&encode("D-2", &cloud(2, 4.0)));

    let dropped = next_part(&mut source);
    assert_eq!(dropped.part, "D-1");
    assert!(scan_error(&dropped).contains("truncated"), "{}", scan_error(&dropped));
    let next = next_part(&mut source);
    assert_eq!(next.part, "D-2");
    assert_eq!(scan_points(&next), cloud(2, 4.0));
}

#[test]
fn a_vanished_port_is_reconnected_with_backoff() {
    let (_dir, link, mut pty, mut source) = setup(1000);
    pty.send(&encode("E-1", &cloud(2, 0.0)));
    assert_eq!(next_part(&mut source).part, "E-1");

    // Unplugged: the line hangs up and the device node goes away.
    drop(pty);
    std::fs::remove_file(&link).unwrap();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_millis(1500) {
        let wait = Duration::from_millis(50);
        let polled = Instant::now();
        assert!(matches!(source.poll(wait), Poll::Idle), "nothing can arrive from a vanished port");
        assert!(polled.elapsed() < wait + Duration::from_secs(2), "poll overran its wait: {:?}", polled.elapsed());
    }

    // Plugged back in, as a new device behind the same name.
    let mut pty = Pty::open();
    point_port_at(&link, &pty);
    pty.send(&encode("E-2", &cloud(3, 5.0)));
    let back = next_part(&mut source);
    assert_eq!(back.part, "E-2");
    assert_eq!(scan_points(&back), cloud(3, 5.0));
}

#[test]
fn a_port_missing_at_start_is_waited_for() {
    let _ = env_logger::builder().is_test(true).try_init();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("scanner");
    let mut source = SerialSource::new(link.clone(), BAUD, 1000);
    assert!(matches!(source.poll(Duration::ZERO), Poll::Idle));
    assert!(matches!(source.poll(Duration::from_millis(200)), Poll::Idle));

    let mut pty = Pty::open();
    point_port_at(&link, &pty);
    pty.send(&encode("F-1", &cloud(1, 0.0)));
    assert_eq!(next_part(&mut source).part, "F-1");
}
