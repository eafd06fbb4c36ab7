//! Files that must survive a power cut: the one place that knows how the box makes a write
//! durable (write to a temporary file, fsync it, rename it over the old one, fsync the folder),
//! moves a file between folders durably, and takes an exclusive lock on a file.
//!
//! Why the folder fsyncs: on Linux a rename or a new directory entry is only durable once the
//! folder itself is synced; without it a power cut can bring back the old name or lose the file
//! even though its bytes reached the disk. Slots, the spool, flash and the journal's folder use
//! these functions and nothing else for that.

use std::fs::File;
use std::path::Path;

/// Writes `path` so that a crash leaves either the old or the new content, never a mix (mode
/// 0644).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = parent(path);
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut temp, bytes)?;
    temp.as_file().set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Makes a folder's entries (created, renamed, removed files) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Renames `from` to `to` and syncs both folders, so that after a crash the file is in exactly
/// one of them.
pub fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    sync_dir(parent(to))?;
    if parent(from) != parent(to) {
        sync_dir(parent(from))?;
    }
    Ok(())
}

/// Creates `dir` and its missing parents, and makes the new entries durable.
pub fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    sync_dir(parent(dir))
}

/// An exclusive advisory lock on a file, held until dropped (the kernel drops it with the
/// process, so a killed holder never leaves a stale lock).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock on `path` (created if missing) without waiting: `Ok(None)` when another
    /// process holds it.
    pub fn try_acquire(path: &Path) -> std::io::Result<Option<Lock>> {
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Lock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("install.toml");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_rename_moves_the_file_between_folders() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("work"), dir.path().join("done"));
        create_dir_all(&a).unwrap();
        create_dir_all(&b).unwrap();
        std::fs::write(a.join("scan.pcd"), b"x").unwrap();
        rename(&a.join("scan.pcd"), &b.join("scan.pcd")).unwrap();
        assert!(!a.join("scan.pcd").exists());
        assert_eq!(std::fs::read(b.join("scan.pcd")).unwrap(), b"x");
    }

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".flash.lock");
        let first = Lock::try_acquire(&path).unwrap().expect("the first lock");
        assert!(Lock::try_acquire(&path).unwrap().is_none());
        drop(first);
        assert!(Lock::try_acquire(&path).unwrap().is_some());
    }
}
