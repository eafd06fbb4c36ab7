//! The spool folder: the scanner software writes one file per part into `dir`; the daemon takes
//! each complete file, moves it to `work/` under a unique name, and after the part's decision is
//! journaled moves it on to `done/` (inspected) or `failed/` (could not be inspected).
//!
//! Nothing is lost or decided twice across a crash: a file is in exactly one of the four places,
//! and a file still in `work/` at start is either settled from the journal (decided before the
//! crash) or queued again (not decided). A file counts as complete when it was renamed into the
//! folder (the recommended way: write `.name.tmp`, then rename) or, with a `settle` above zero,
//! has not changed for `settle` and had the same size at the previous poll (a writer that pauses
//! keeps the modification time old while the file is still growing).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::source::{Poll, Settle, Settlement, Source, Taken};
use crate::durable;

const WORK: &str = "work";
const DONE: &str = "done";
const FAILED: &str = "failed";

pub struct Spool {
    dir: PathBuf,
    settle: Duration,
    /// Work files left from before a restart, not yet decided.
    recovered: VecDeque<PathBuf>,
    taken: u64,
    /// Each file's size at the previous poll (the two-poll settle rule).
    sizes: HashMap<PathBuf, u64>,
}

impl Spool {
    pub fn open(dir: &Path, settle: Duration, decided: &dyn Fn(&str) -> Option<Settlement>) -> std::io::Result<Spool> {
        for sub in [WORK, DONE, FAILED] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let mut recovered = VecDeque::new();
        for SpoolFile { path: work, .. } in sorted_files(&dir.join(WORK))?.0 {
            match decided(&origin(&work)) {
                Some(settlement) => {
                    log::info!("{}: decided before the restart; moving it on", work.display());
                    settle_file(&work, settlement)?;
                }
                None => recovered.push_back(work),
            }
        }
        if !recovered.is_empty() {
            log::warn!("{}: {} scans were taken but not decided before the restart; deciding them first", dir.display(), recovered.len());
        }
        Ok(Spool { dir: dir.to_path_buf(), settle, recovered, taken: 0, sizes: HashMap::new() })
    }

    /// The oldest complete scan file in the spool, moved into `work/` under a name without
    /// control characters (it becomes the part id and appears in logs and `history`).
    fn take(&mut self) -> std::io::Result<Option<PathBuf>> {
        let (files, strays) = sorted_files(&self.dir)?;
        self.clear_strays(strays)?;
        let now = SystemTime::now();
        let previous = std::mem::replace(&mut self.sizes, files.iter().map(|f| (f.path.clone(), f.len)).collect());
        let complete = files.into_iter().find(|file| {
            let name = file.path.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            let age = now.duration_since(file.modified).unwrap_or_default();
            let steady = self.settle.is_zero() || previous.get(&file.path) == Some(&file.len);
            !name.starts_with('.') && !name.ends_with(".tmp") && !name.ends_with(".part") && age >= self.settle && steady
        });
        let Some(SpoolFile { path, .. }) = complete else { return Ok(None) };
        self.taken += 1;
        let stamp = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis();
        let name = printable(&path.file_name().unwrap_or_default().to_string_lossy());
        let work = self.dir.join(WORK).join(format!("{stamp}-{}-{name}", self.taken));
        durable::rename(&path, &work)?;
        Ok(Some(work))
    }

    /// Moves what is not a regular file (folders, symlinks, FIFOs, devices) to `failed/`, with
    /// a log line: none is a scan, a FIFO would block its reader, and left in place they would
    /// be passed over unseen forever.
    fn clear_strays(&self, strays: Vec<PathBuf>) -> std::io::Result<()> {
        for stray in strays {
            let name = stray.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if name.starts_with('.') || [WORK, DONE, FAILED].contains(&name.as_str()) {
                continue;
            }
            let stamp = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis();
            let target = self.dir.join(FAILED).join(format!("{stamp}-stray-{}", printable(&name)));
            log::error!(
                "{}: {:?} is not a regular file, so not a scan; moved to {}",
                self.dir.display(),
                printable(&name),
                target.display()
            );
            durable::rename(&stray, &target)?;
        }
        Ok(())
    }
}

/// `name` with every control character (newline, escape, ...) replaced by `?`.
fn printable(name: &str) -> String {
    name.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

impl Source for Spool {
    fn poll(&mut self, wait: Duration) -> Poll {
        let work = match self.recovered.pop_front() {
            Some(work) => Some(work),
            None => self.take().unwrap_or_else(|e| {
                log::error!("{}: cannot take scans from the spool: {e}", self.dir.display());
                None
            }),
        };
        match work {
            Some(work) => Poll::Part(taken(work)),
            None => {
                std::thread::sleep(wait.min(Duration::from_millis(100)));
                Poll::Idle
            }
        }
    }

    fn describe(&self) -> String {
        format!("spool {} (settle {} ms)", self.dir.display(), self.settle.as_millis())
    }
}

fn taken(work: PathBuf) -> Taken {
    let at = Instant::now();
    let settle: Settle = {
        let work = work.clone();
        Box::new(move |settlement| settle_file(&work, *settlement))
    };
    let (part, origin) = (part_id(&work), origin(&work));
    Taken {
        part,
        at,
        origin,
        settle: Some(settle),
        read: Box::new(move || dus_core::cloud::read(&work).map_err(|e| e.problem.to_string())),
    }
}

/// The part id: the scanner's file name without its extension (and without our work prefix).
fn part_id(work: &Path) -> String {
    let stem = work.file_stem().unwrap_or_default().to_string_lossy();
    stem.splitn(3, '-').nth(2).unwrap_or(&stem).to_string()
}

/// How the journal names a spool item: its unique path in `work/`.
fn origin(work: &Path) -> String {
    format!("spool {}", work.display())
}

/// Moves a decided work file to `done/` or `failed/`, durably.
fn settle_file(work: &Path, settlement: Settlement) -> std::io::Result<()> {
    let spool = work.parent().and_then(Path::parent).unwrap_or(Path::new("."));
    let target = spool.join(if settlement == Settlement::Inspected { DONE } else { FAILED });
    durable::rename(work, &target.join(work.file_name().unwrap_or_default()))
}

/// A regular file in a spool folder listing.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct SpoolFile {
    modified: SystemTime,
    path: PathBuf,
    len: u64,
}

/// Regular files directly in `dir`, oldest first (then by name), and everything else there
/// (folders, links, FIFOs): one listing per poll.
fn sorted_files(dir: &Path) -> std::io::Result<(Vec<SpoolFile>, Vec<PathBuf>)> {
    let (mut files, mut others) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let meta = entry.metadata()?;
            files.push(SpoolFile { modified: meta.modified()?, path: entry.path(), len: meta.len() });
        } else {
            others.push(entry.path());
        }
    }
    files.sort();
    Ok((files, others))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_sample(dir: &Path, name: &str) {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/scan_binary.pcd");
        std::fs::copy(sample, dir.join(name)).unwrap();
    }

    fn next_part(spool: &mut Spool) -> crate::daemon::source::Arrival {
        match spool.poll(Duration::from_millis(10)) {
            Poll::Part(taken) => taken.read(None),
            _ => panic!("expected a part"),
        }
    }

    #[test]
    fn files_move_through_work_to_done_or_failed() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), Duration::ZERO, &|_| None).unwrap();
        copy_sample(dir.path(), "part-0001.pcd");
        std::fs::write(dir.path().join("part-0002.pcd"), b"VERSION .7\nFIELDS x y z\n").unwrap();
        std::fs::write(dir.path().join(".part-0003.pcd.tmp"), b"being written").unwrap();
        let (good, bad) = (next_part(&mut spool), next_part(&mut spool));
        assert_eq!((good.part.as_str(), bad.part.as_str()), ("part-0001", "part-0002"));
        assert!(good.scan.is_ok() && bad.scan.unwrap_err().contains("header"));
        assert!(matches!(spool.poll(Duration::from_millis(1)), Poll::Idle), "the .tmp file is still being written");
        (good.settle.unwrap())(&Settlement::Inspected).unwrap();
        (bad.settle.unwrap())(&Settlement::Failed).unwrap();
        let names = |sub: &str| std::fs::read_dir(dir.path().join(sub)).unwrap().count();
        assert_eq!((names(WORK), names(DONE), names(FAILED)), (0, 1, 1));
    }

    #[test]
    fn a_restart_settles_decided_work_and_requeues_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), Duration::ZERO, &|_| None).unwrap();
        copy_sample(dir.path(), "a.pcd");
        copy_sample(dir.path(), "b.pcd");
        let (a, b) = (next_part(&mut spool), next_part(&mut spool));
        // Crash: neither settled. The journal knows a's decision, not b's.
        let decided_origin = a.origin.clone();
        let mut spool = Spool::open(dir.path(), Duration::ZERO, &|o| (o == decided_origin).then_some(Settlement::Inspected)).unwrap();
        let again = next_part(&mut spool);
        assert_eq!((again.part.as_str(), again.origin.as_str()), ("b", b.origin.as_str()));
        assert!(matches!(spool.poll(Duration::from_millis(1)), Poll::Idle));
        assert_eq!(std::fs::read_dir(dir.path().join(DONE)).unwrap().count(), 1);
    }

    #[test]
    fn strays_go_to_failed_and_control_characters_leave_the_part_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), Duration::ZERO, &|_| None).unwrap();
        std::fs::create_dir(dir.path().join("a-folder.pcd")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.pcd")).unwrap();
        copy_sample(dir.path(), "part\n\x1b[31m7.pcd");
        let part = next_part(&mut spool);
        assert_eq!(part.part, "part??[31m7");
        assert!(!part.origin.chars().any(char::is_control), "{:?}", part.origin);
        let failed: Vec<String> =
            std::fs::read_dir(dir.path().join(FAILED)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(
            failed.iter().any(|n| n.ends_with("-stray-a-folder.pcd")) && failed.iter().any(|n| n.ends_with("-stray-link.pcd")),
            "{failed:?}"
        );
        assert!(std::fs::symlink_metadata("/etc/passwd").is_ok(), "the link's target is untouched");
    }

    #[test]
    fn a_file_that_grew_since_the_last_poll_waits_even_when_its_time_is_old() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), Duration::from_millis(1), &|_| None).unwrap();
        let path = dir.path().join("paused-writer.xyz");
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::write(&path, "1 2 3\n").unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(old).unwrap();
        assert!(matches!(spool.poll(Duration::from_millis(1)), Poll::Idle), "first sighting: size not known yet");
        std::fs::write(&path, "1 2 3\n4 5 6\n").unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(old).unwrap();
        assert!(matches!(spool.poll(Duration::from_millis(1)), Poll::Idle), "it grew between two polls");
        assert_eq!(next_part(&mut spool).part, "paused-writer", "same size at two polls: taken");
    }

    #[test]
    fn a_file_still_changing_waits_for_the_settle_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), Duration::from_secs(3600), &|_| None).unwrap();
        copy_sample(dir.path(), "fresh.pcd");
        assert!(matches!(spool.poll(Duration::from_millis(1)), Poll::Idle));
    }
}
