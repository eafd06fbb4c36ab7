//! Fuzzing the scan readers on stable Rust: real scans of every format (`tests/data/scan_*`),
//! mutated by bit flips, header lies, truncation and splices, read in-process under a memory cap
//! and a time limit. Every read must end in a cloud that keeps the `Cloud` invariants or in an
//! error: no panic, no allocation past the cap, no endless loop.
//!
//! CI runs it for `DUS_EDGE_FUZZ_SECONDS` (default 20); a longer run on a workstation:
//! `DUS_EDGE_FUZZ_SECONDS=3600 DUS_EDGE_FUZZ_SEED=$RANDOM cargo test --release --test fuzz_readers`.
//! The input being read is kept at `target/tmp/fuzz-current.<ext>`, so a crash leaves it behind;
//! move it into `tests/data/fuzz/` and it becomes a regression case read on every run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Live heap bytes allowed while reading one input (a 2,000-point seed needs well under 1 MiB).
const CAP: usize = 256 << 20;
/// One read may take this long before the run is called stuck.
const STUCK: Duration = Duration::from_secs(10);

struct Capped;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; refusing (null) is allowed by the GlobalAlloc contract.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size() > CAP {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            return std::ptr::null_mut();
        }
        PEAK.fetch_max(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;

/// xorshift64*: deterministic from the seed, so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Numbers a lying header may claim.
const LIES: [&str; 10] = ["0", "1", "-1", "3", "65537", "4294967295", "4294967296", "18446744073709551615", "99999999999", "nan"];

fn header_len(bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).into_owned();
    ["DATA", "end_header"].iter().filter_map(|m| text.find(m)).min().map_or(bytes.len().min(64), |i| i + 12).min(bytes.len())
}

/// One mutation of `seed` (others: the other seeds, for splices).
fn mutate(rng: &mut Rng, seed: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    let header = header_len(&bytes);
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(16) {
                let at = if rng.below(2) == 0 { rng.below(header) } else { rng.below(bytes.len()) };
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        1 => {
            let text = String::from_utf8_lossy(&bytes[..header]).into_owned();
            let numbers: Vec<(usize, usize)> = text.match_indices(|c: char| c.is_ascii_digit()).map(|(i, _)| (i, i + 1)).collect();
            if let Some(&(start, _)) = numbers.get(rng.below(numbers.len())) {
                let end = start + text[start..].find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
                bytes.splice(start..end, LIES[rng.below(LIES.len())].bytes());
            }
        }
        2 => bytes.truncate(rng.below(bytes.len())),
        3 => {
            let other = &others[rng.below(others.len())];
            let (head, tail) = (rng.below(bytes.len()), rng.below(other.len()));
            bytes.truncate(head);
            bytes.extend_from_slice(&other[tail..]);
        }
        _ => {
            let lines: Vec<&[u8]> = bytes[..header].split_inclusive(|&b| b == b'\n').collect();
            let line = lines[rng.below(lines.len())].to_vec();
            let at = rng.below(header);
            if rng.below(2) == 0 {
                bytes.splice(at..at, line);
            } else if let Some(start) = bytes[..header].windows(line.len()).position(|w| w == line.as_slice()) {
                bytes.drain(start..start + line.len());
            }
        }
    }
    bytes
}

/// Reads `path` in-process and checks the outcome; `Err` with a description on a broken rule.
fn read_checked(path: &Path) -> Result<Option<usize>, String> {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let outcome = std::panic::catch_unwind(|| dus_core::cloud::read(path)).map_err(|_| "the reader panicked".to_string())?;
    let grew = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    match outcome {
        Err(e) => {
            let message = e.to_string();
            if message.is_empty() {
                return Err("an empty error message".into());
            }
            Ok(None)
        }
        Ok(cloud) if cloud.is_empty() || cloud.points().iter().flatten().any(|v| !v.is_finite()) => {
            Err("a cloud that is empty or not finite".into())
        }
        Ok(cloud) if grew > 64 * std::fs::metadata(path).map_or(0, |m| m.len() as usize) + (1 << 20) => {
            Err(format!("{} points took {grew} bytes at peak, far beyond the file's size", cloud.len()))
        }
        Ok(cloud) => Ok(Some(cloud.len())),
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// Aborts the process, naming the input, when one read takes longer than [`STUCK`].
fn stuck_guard(current: PathBuf, busy: Arc<AtomicBool>) {
    std::thread::spawn(move || loop {
        let start = Instant::now();
        while busy.load(Ordering::Relaxed) {
            if start.elapsed() > STUCK {
                eprintln!("a read took over {STUCK:?}: the input is {}", current.display());
                std::process::abort();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(5));
    });
}

#[test]
fn mutated_scans_of_every_format_are_read_or_refused_never_crash() {
    let seeds: Vec<(&str, Vec<u8>)> = [
        "scan_ascii.pcd",
        "scan_binary.pcd",
        "scan_compressed.pcd",
        "scan_ascii.ply",
        "scan_le.ply",
        "scan_be.ply",
        "scan.xyz",
        "scan.csv",
    ]
    .iter()
    .map(|name| (*name, std::fs::read(data(name)).unwrap()))
    .collect();
    let others: Vec<Vec<u8>> = seeds.iter().map(|(_, bytes)| bytes.clone()).collect();
    let seconds: u64 = std::env::var("DUS_EDGE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let seed: u64 = std::env::var("DUS_EDGE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    let mut rng = Rng(seed | 1);
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let busy = Arc::new(AtomicBool::new(false));
    let (mut runs, mut read, mut refused) = (0usize, 0usize, 0usize);
    let start = Instant::now();
    let mut guarded = std::collections::HashSet::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        let (name, bytes) = &seeds[runs % seeds.len()];
        let ext = name.rsplit('.').next().unwrap();
        let current = tmp.join(format!("fuzz-current.{ext}"));
        if guarded.insert(ext) {
            stuck_guard(current.clone(), busy.clone());
        }
        let mut input = mutate(&mut rng, bytes, &others);
        if rng.below(4) == 0 {
            input = mutate(&mut rng, &input, &others);
        }
        std::fs::write(&current, &input).unwrap();
        busy.store(true, Ordering::Relaxed);
        let outcome = read_checked(&current);
        busy.store(false, Ordering::Relaxed);
        match outcome {
            Ok(Some(_)) => read += 1,
            Ok(None) => refused += 1,
            Err(why) => {
                let keep = tmp.join(format!("fuzz-failure-{seed}-{runs}.{ext}"));
                std::fs::copy(&current, &keep).unwrap();
                panic!("mutation {runs} of {name} (seed {seed}): {why}; input kept at {}", keep.display());
            }
        }
        runs += 1;
    }
    eprintln!("{runs} mutated inputs in {seconds} s (seed {seed}): {read} read, {refused} refused");
    assert!(runs >= seeds.len() && refused > 0, "{runs} runs, {refused} refused");
}

#[test]
fn every_input_that_ever_broke_a_reader_is_refused() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(data("fuzz")).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 6, "{cases:?}");
    for case in cases {
        let outcome = read_checked(&case);
        assert!(matches!(outcome, Ok(None)), "{}: {outcome:?}", case.display());
    }
}
