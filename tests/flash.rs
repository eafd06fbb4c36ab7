//! `edge-tool flash` end to end, on the real bunny model with real signatures: the real binary is
//! run for its exit codes and messages; the box's state is checked with the library
//! (`slots::resolve_active` + `Model::load`, what the daemon does at start).

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use dus_box::bundle::{self, keys, BundleManifest, Limits};
use dus_box::flash::{Step, KILL_ENV};
use dus_box::slots::{self, InstallRecord, Slot};
use dus_core::model::{Manifest, Model, RuntimeConfig};
use dus_workstation::signing;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

const EXE: &str = env!("CARGO_BIN_EXE_edge-tool");

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/bunny")
}

/// Members of a bundle in archive order: (name, bytes).
type Members = Vec<(String, Vec<u8>)>;

/// Built once per test process: keys, and the good bundle packed by the real `edge-tool pack`.
struct Fixtures {
    dir: PathBuf,
    trusted: SigningKey,
    stranger: SigningKey,
    good: PathBuf,
    good_members: Members,
    /// The same model as version 1.0.1 (a second, distinguishable good bundle).
    v2: PathBuf,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flash-fixtures");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = run(&["keygen", "--out", dir.join("signer").to_str().unwrap()], &[]);
        assert!(out.status.success(), "{}", text(&out));
        let trusted = signing::read_secret(&dir.join("signer.key")).unwrap();
        let good = dir.join("bunny-1.0.0.bundle");
        let out = run(
            &[
                "pack",
                model_dir().to_str().unwrap(),
                "--key",
                dir.join("signer.key").to_str().unwrap(),
                "-o",
                good.to_str().unwrap(),
                "--threads",
                "1",
            ],
            &[],
        );
        assert!(out.status.success(), "pack failed: {}", text(&out));
        let good_members = members(&good);
        let mut fixtures =
            Fixtures { dir: dir.clone(), trusted, stranger: SigningKey::from_bytes(&[42; 32]), good, good_members, v2: PathBuf::new() };
        fixtures.v2 = fixtures.variant("bunny-1.0.1.bundle", Sign::Trusted, |manifest, members| {
            manifest.model.version = "1.0.1".into();
            edit_member(members, "model.toml", |t| t.replacen("version = \"1.0.0\"", "version = \"1.0.1\"", 1));
            relist(manifest, members);
        });
        fixtures
    })
}

enum Sign {
    Trusted,
    Stranger,
    /// Keep the original bundle.sig bytes (now over a different bundle.toml).
    Keep,
    None,
}

impl Fixtures {
    /// The good bundle with its bundle.toml and members edited, written as `name`.
    fn variant(&self, name: &str, sign: Sign, edit: impl FnOnce(&mut BundleManifest, &mut Members)) -> PathBuf {
        let mut members = self.good_members.clone();
        let original_sig = members.iter().find(|(n, _)| n == "bundle.sig").unwrap().1.clone();
        members.retain(|(n, _)| n != "bundle.toml" && n != "bundle.sig");
        let mut manifest: BundleManifest = toml::from_str(std::str::from_utf8(&self.good_members[0].1).unwrap()).unwrap();
        edit(&mut manifest, &mut members);
        let text = toml::to_string_pretty(&manifest).unwrap();
        let sig = match sign {
            Sign::Trusted => Some(signing::sign(&self.trusted, text.as_bytes()).into_bytes()),
            Sign::Stranger => Some(signing::sign(&self.stranger, text.as_bytes()).into_bytes()),
            Sign::Keep => Some(original_sig),
            Sign::None => None,
        };
        let mut all = vec![("bundle.toml".to_string(), text.into_bytes())];
        all.extend(sig.map(|s| ("bundle.sig".to_string(), s)));
        all.extend(members);
        let path = self.dir.join(name);
        write_tar(&path, &all.iter().map(|(n, d)| Raw::file(n, d)).collect::<Vec<_>>());
        path
    }
}

fn members(bundle: &Path) -> Members {
    let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn edit_member(members: &mut Members, name: &str, edit: impl FnOnce(String) -> String) {
    let entry = members.iter_mut().find(|(n, _)| n == name).unwrap();
    entry.1 = edit(String::from_utf8(entry.1.clone()).unwrap()).into_bytes();
}

/// Lists the members' current sizes and hashes in bundle.toml.
fn relist(manifest: &mut BundleManifest, members: &Members) {
    for file in &mut manifest.files {
        if let Some((_, data)) = members.iter().find(|(n, _)| *n == file.path) {
            file.size = data.len() as u64;
            file.sha256 = hex::encode(Sha256::digest(data));
        }
    }
}

/// A tar member written with raw header fields, so unsafe names and types can be made.
struct Raw<'a> {
    name: &'a str,
    kind: tar::EntryType,
    data: &'a [u8],
    link: Option<&'a str>,
}

impl<'a> Raw<'a> {
    fn file(name: &'a str, data: &'a [u8]) -> Raw<'a> {
        Raw { name, kind: tar::EntryType::Regular, data, link: None }
    }
}

fn write_tar(path: &Path, entries: &[Raw<'_>]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let name = &mut header.as_old_mut().name;
        name[..entry.name.len()].copy_from_slice(entry.name.as_bytes());
        header.set_entry_type(entry.kind);
        header.set_size(entry.data.len() as u64);
        header.set_mode(0o644);
        if let Some(link) = entry.link {
            header.set_link_name(link).unwrap();
        }
        header.set_cksum();
        builder.append(&header, entry.data).unwrap();
    }
    builder.finish().unwrap();
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(EXE);
    command.args(args).env("RUST_LOG", "warn");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(out: &Output) -> String {
    format!("status {:?}\nstdout:\n{}\nstderr:\n{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A box: a models root and an edge.toml trusting the fixtures' signer.
struct TestBox {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
    pid_file: PathBuf,
}

impl TestBox {
    fn new(allow_unsigned: bool) -> TestBox {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let (root, config, pid_file) = (dir.path().join("models"), dir.path().join("edge.toml"), dir.path().join("daemon.pid"));
        let trusted = keys::public_hex(&fixtures().trusted.verifying_key());
        std::fs::write(
            &config,
            format!(
                "[runtime]\nthreads = 1\n[models]\nroot = {root:?}\ntrusted_keys = [\"{trusted}\"]\nallow_unsigned = {allow_unsigned}\n[daemon]\npid_file = {pid_file:?}\n"
            ),
        )
        .unwrap();
        TestBox { _dir: dir, root, config, pid_file }
    }

    fn flash(&self, bundle: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut args = vec!["flash", bundle.to_str().unwrap(), "--config", self.config.to_str().unwrap()];
        args.extend(extra);
        run(&args, env)
    }

    fn command(&self, args: &[&str]) -> Output {
        let mut args = args.to_vec();
        args.extend(["--config", self.config.to_str().unwrap()]);
        run(&args, &[])
    }

    /// What the daemon would do at start: resolve the model folder and load it.
    fn loaded_version(&self) -> (Option<Slot>, String) {
        let resolved = slots::resolve_active(&self.root).unwrap();
        let model = Model::load(&resolved.dir, &RuntimeConfig { threads: 1, ..RuntimeConfig::default() }).unwrap();
        (resolved.slot, model.manifest.model.version)
    }
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "{}", text(out));
}

/// The command failed with `code` and said `needle`.
fn assert_refused(out: &Output, code: i32, needle: &str) {
    let all = text(out);
    assert_eq!(out.status.code(), Some(code), "{all}");
    assert!(all.contains(needle), "expected '{needle}' in:\n{all}");
}

#[test]
fn a_good_bundle_installs_becomes_active_rolls_back_and_replaces_a_broken_slot() {
    let f = fixtures();
    let b = TestBox::new(false);
    assert_refused(&b.command(&["flash", "--rollback"]), 15, "nothing to roll back");

    assert_ok(&b.flash(&f.good, &[], &[]));
    assert_eq!(b.loaded_version(), (Some(Slot::A), "1.0.0".into()));
    assert_eq!(slots::active_slot(&b.root), Some(Slot::A));

    // A running daemon is told to reload: a stand-in process that SIGHUP terminates.
    let mut daemon = support::stand_in_daemon();
    std::fs::write(&b.pid_file, format!("{}\n", daemon.id())).unwrap();
    let out = b.flash(&f.v2, &[], &[]);
    assert_ok(&out);
    assert!(text(&out).contains(&format!("pid {}", daemon.id())), "{}", text(&out));
    assert_eq!(daemon.wait().unwrap().signal(), Some(libc::SIGHUP));
    assert_eq!(b.loaded_version(), (Some(Slot::B), "1.0.1".into()));

    let models = text(&b.command(&["models"]));
    assert!(models.contains("slot a: bunny 1.0.0") && models.contains("slot b (active): bunny 1.0.1"), "{models}");
    assert!(models.contains("smoke test passed") && models.contains(&sha256_of(&f.v2)), "{models}");

    assert_ok(&b.command(&["flash", "--rollback"]));
    assert_eq!(b.loaded_version(), (Some(Slot::A), "1.0.0".into()));
    assert_ok(&b.command(&["flash", "--rollback"]));
    assert_eq!(b.loaded_version(), (Some(Slot::B), "1.0.1".into()));

    // The active slot breaks on disk: the daemon falls back to the other slot and says so.
    let up = Slot::B.dir(&b.root).join("up.onnx");
    let mut bytes = std::fs::read(&up).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&up, bytes).unwrap();
    let resolved = slots::resolve_active(&b.root).unwrap();
    assert_eq!(resolved.slot, Some(Slot::A));
    assert!(resolved.fallback.as_deref().unwrap().contains("active slot b is broken"), "{resolved:?}");
    assert_eq!(b.loaded_version(), (Some(Slot::A), "1.0.0".into()));
    assert!(text(&b.command(&["models"])).contains("BROKEN"));

    // The next flash goes into the broken slot and keeps the working one.
    let record_a = std::fs::read(Slot::A.dir(&b.root).join("install.toml")).unwrap();
    assert_ok(&b.flash(&f.v2, &[], &[]));
    assert_eq!(b.loaded_version(), (Some(Slot::B), "1.0.1".into()));
    assert_eq!(std::fs::read(Slot::A.dir(&b.root).join("install.toml")).unwrap(), record_a);
}

fn sha256_of(path: &Path) -> String {
    dus_core::model::sha256_file(path).unwrap()
}

#[test]
fn bad_bundles_are_refused_with_their_exit_code_and_the_active_model_untouched() {
    let f = fixtures();
    let b = TestBox::new(false);
    assert_ok(&b.flash(&f.good, &[], &[]));
    let record = std::fs::read(Slot::A.dir(&b.root).join("install.toml")).unwrap();
    let untouched = |what: &str, inactive_written: bool| {
        assert_eq!(slots::active_slot(&b.root), Some(Slot::A), "{what}");
        assert_eq!(std::fs::read(Slot::A.dir(&b.root).join("install.toml")).unwrap(), record, "{what}");
        slots::check_model_dir(&Slot::A.dir(&b.root)).unwrap();
        if !inactive_written {
            assert!(!Slot::B.dir(&b.root).exists() && !b.root.join("slots/.staging").exists(), "{what}: something was written");
        }
    };
    let good = &f.good_members;
    let with_extra = |name: &str, extra: Raw<'_>| {
        let path = f.dir.join(name);
        let mut entries: Vec<Raw<'_>> = good.iter().map(|(n, d)| Raw::file(n, d)).collect();
        entries.insert(3, extra);
        write_tar(&path, &entries);
        path
    };

    // Tampered: one byte of a graph changed inside the signed bundle.
    let tampered = f.dir.join("tampered.bundle");
    let mut bytes = std::fs::read(&f.good).unwrap();
    let offset = {
        let mut archive = tar::Archive::new(std::fs::File::open(&f.good).unwrap());
        let entry = archive.entries().unwrap().map(Result::unwrap).find(|e| e.path().unwrap() == Path::new("down.onnx")).unwrap();
        entry.raw_file_position() as usize + 5000
    };
    bytes[offset] ^= 0x01;
    std::fs::write(&tampered, bytes).unwrap();
    let cases: Vec<(&str, PathBuf, i32, &str)> = vec![
        ("tampered file", tampered, 10, "down.onnx' does not match its sha256"),
        ("wrong key", f.variant("stranger.bundle", Sign::Stranger, |_, _| {}), 10, "which this box does not trust"),
        ("unsigned", f.variant("unsigned.bundle", Sign::None, |_, _| {}), 10, "the bundle is not signed"),
        (
            "bundle.toml edited after signing",
            f.variant("resigned.bundle", Sign::Keep, |m, _| m.golden[0].tolerance = 100.0),
            10,
            "altered after signing",
        ),
        ("traversal", with_extra("traversal.bundle", Raw::file("../../evil.pcd", b"x")), 11, "not a plain relative path"),
        ("absolute path", with_extra("absolute.bundle", Raw::file("/tmp/evil.pcd", b"x")), 11, "not a plain relative path"),
        (
            "symlink",
            with_extra(
                "symlink.bundle",
                Raw { name: "samples/link.pcd", kind: tar::EntryType::Symlink, data: b"", link: Some("/etc/passwd") },
            ),
            11,
            "not a regular file",
        ),
        ("duplicate", with_extra("duplicate.bundle", Raw::file("samples/good.pcd", &good[7].1)), 11, "appears twice"),
        ("unlisted member", with_extra("unlisted.bundle", Raw::file("notes.txt", b"hello")), 11, "not listed in bundle.toml"),
        (
            "a member that is another member's folder",
            f.variant("file-and-folder.bundle", Sign::Trusted, |m, members| {
                for (path, data) in [("samples2", b"x".to_vec()), ("samples2/x.pcd", b"y".to_vec())] {
                    m.files.push(bundle::Member { path: path.into(), size: 0, sha256: String::new() });
                    members.push((path.into(), data));
                }
                relist(m, members);
            }),
            11,
            "lists 'samples2' as a file and as the folder of 'samples2/x.pcd'",
        ),
        ("truncated", truncated(f), 11, "truncated"),
        (
            "not a bundle",
            {
                let p = f.dir.join("junk.bundle");
                std::fs::write(&p, vec![7u8; 3000]).unwrap();
                p
            },
            11,
            "truncated or damaged",
        ),
        ("missing file", f.dir.join("no-such.bundle"), 14, "cannot read the bundle"),
        (
            "incompatible tensor contract",
            f.variant("contract.bundle", Sign::Trusted, |m, members| {
                m.tensors.up_outputs = vec!["dense".into()];
                edit_member(members, "model.toml", |t| t.replace("up_outputs = [\"points\"]", "up_outputs = [\"dense\"]"));
                relist(m, members);
            }),
            12,
            "tensors.up_outputs",
        ),
        (
            "incompatible runtime version",
            f.variant("future.bundle", Sign::Trusted, |m, _| m.runtime.dus_edge = ">=9.0.0".into()),
            12,
            "needs dus-edge >=9.0.0",
        ),
        (
            "tested only on another provider",
            f.variant("tensorrt-only.bundle", Sign::Trusted, |m, _| m.runtime.providers = vec!["tensorrt".into()]),
            12,
            "tested on [\"tensorrt\"]",
        ),
    ];
    assert_eq!(good[7].0, "samples/good.pcd");
    for (what, bundle, code, needle) in &cases {
        let out = b.flash(bundle, &[], &[]);
        assert_refused(&out, *code, needle);
        untouched(what, false);
        // `verify` refuses them the same way.
        if *code != 14 {
            assert_refused(&b.command(&["verify", bundle.to_str().unwrap()]), *code, needle);
        }
    }
    assert!(!f.dir.parent().unwrap().join("evil.pcd").exists() && !Path::new("/tmp/evil.pcd").exists());
    let verified = b.command(&["verify", f.good.to_str().unwrap()]);
    assert_ok(&verified);
    assert!(text(&verified).contains("signature: valid, by trusted key") && text(&verified).contains("every sha256 matches"));

    // Golden samples that the model does not reproduce: installed in the inactive slot, tested,
    // refused; the active model stays and the failed slot is no rollback target.
    let wrong = f.variant("wrong-golden.bundle", Sign::Trusted, |m, _| m.golden[1].object_score += 1.0);
    assert_refused(&b.flash(&wrong, &[], &[]), 13, "smoke test failed");
    untouched("failing golden samples", true);
    assert!(!InstallRecord::read(&Slot::B.dir(&b.root)).unwrap().smoke_test.passed);
    assert!(text(&b.command(&["models"])).contains("smoke test FAILED"));
    assert_refused(&b.command(&["flash", "--rollback"]), 15, "failed its smoke test");
    untouched("rollback to a failed slot", true);
    // A dry run of the same bundle fails the same way and writes nothing to the box.
    let before = InstallRecord::read(&Slot::B.dir(&b.root)).unwrap();
    assert_refused(&b.flash(&wrong, &["--dry-run"], &[]), 13, "smoke test failed");
    assert_eq!(InstallRecord::read(&Slot::B.dir(&b.root)).unwrap(), before);
}

fn truncated(f: &Fixtures) -> PathBuf {
    let bytes = std::fs::read(&f.good).unwrap();
    let path = f.dir.join("truncated.bundle");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    path
}

#[test]
fn unsigned_bundles_pass_only_in_development_mode_and_loudly() {
    let f = fixtures();
    let unsigned = f.variant("dev-unsigned.bundle", Sign::None, |_, _| {});
    let b = TestBox::new(true);
    let out = b.flash(&unsigned, &["--dry-run"], &[]);
    assert_ok(&out);
    assert!(text(&out).contains("WARNING: DEVELOPMENT MODE: the bundle is NOT SIGNED"), "{}", text(&out));
    assert!(text(&out).contains("Dry run passed") && !b.root.join("active").exists(), "{}", text(&out));
    // `verify` with no box to check against cannot call an unsigned bundle OK.
    assert_refused(
        &run(&["verify", unsigned.to_str().unwrap()], &[]),
        10,
        "unsigned bundle: a box installs it only with allow_unsigned = true",
    );
    let verified = b.command(&["verify", unsigned.to_str().unwrap()]);
    assert_ok(&verified);
    assert!(text(&verified).contains("accepted only because allow_unsigned = true"), "{}", text(&verified));
    // A broken signature stays refused even in development mode.
    let resigned = f.variant("dev-resigned.bundle", Sign::Keep, |m, _| m.model.packed = "tomorrow".into());
    assert_refused(&b.flash(&resigned, &["--dry-run"], &[]), 10, "altered after signing");
}

#[test]
fn a_flash_killed_after_any_step_leaves_a_model_that_loads() {
    let f = fixtures();
    let b = TestBox::new(false);
    assert_ok(&b.flash(&f.good, &[], &[]));
    let mut active_version = "1.0.0";
    for step in Step::ALL {
        let out = b.flash(&f.v2, &[], &[(KILL_ENV, step.name())]);
        assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{}: {}", step.name(), text(&out));
        if step == Step::Switched {
            active_version = "1.0.1";
        }
        let (_, version) = b.loaded_version();
        assert_eq!(version, active_version, "after a kill at {}", step.name());
    }
    // The next flash cleans up what the killed ones left and completes.
    assert_ok(&b.flash(&f.good, &[], &[]));
    assert_eq!(b.loaded_version().1, "1.0.0");
    let leftovers: Vec<_> = std::fs::read_dir(b.root.join("slots")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

#[test]
fn a_box_that_never_finished_its_first_flash_still_has_no_half_model() {
    let f = fixtures();
    let b = TestBox::new(false);
    // Killed before the first switch: no active pointer, and the new slot is not trusted until
    // its smoke test passed.
    let out = b.flash(&f.good, &[], &[(KILL_ENV, "installed")]);
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    let err = slots::resolve_active(&b.root).unwrap_err().to_string();
    assert!(err.contains("did not finish"), "{err}");
    let out = b.flash(&f.good, &[], &[(KILL_ENV, "smoke-tested")]);
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    assert_eq!(b.loaded_version(), (Some(Slot::A), "1.0.0".into()));
}

#[test]
fn oversized_members_are_refused_before_they_are_read() {
    let f = fixtures();
    let small = Limits { member: 1 << 20, ..Limits::default() };
    let err = bundle::inspect(&f.good, &small, None).unwrap_err();
    assert_eq!(err.kind, bundle::Kind::BadBundle);
    assert!(err.message.contains("over the limit"), "{}", err.message);
    let tiny_total = Limits { total: 1 << 20, ..Limits::default() };
    assert!(bundle::inspect(&f.good, &tiny_total, None).unwrap_err().message.contains("members total"));
    // A header that claims more than bundle.toml lists is refused before its data is read.
    let mut entries: Vec<Raw<'_>> = f.good_members.iter().map(|(n, d)| Raw::file(n, d)).collect();
    let big = vec![0u8; 300_000];
    entries[7] = Raw::file("samples/good.pcd", &big);
    let path = f.dir.join("bigger-member.bundle");
    write_tar(&path, &entries);
    let err = bundle::inspect(&path, &Limits::default(), None).unwrap_err();
    assert!(err.message.contains("bytes but bundle.toml says"), "{}", err.message);
    // The good bundle reads back whole, with its model manifest checked.
    let inspected = bundle::inspect(&f.good, &Limits::default(), None).unwrap();
    assert_eq!(inspected.model, Manifest::load(&model_dir()).unwrap());
}

#[test]
fn reload_signals_the_daemon_named_by_the_pid_file() {
    let b = TestBox::new(false);
    let out = b.command(&["reload"]);
    assert_ok(&out);
    assert!(text(&out).contains("no daemon is running"), "{}", text(&out));
    let mut daemon = support::stand_in_daemon();
    std::fs::write(&b.pid_file, format!("{}\n", daemon.id())).unwrap();
    let out = b.command(&["reload"]);
    assert_ok(&out);
    assert!(text(&out).contains(&format!("Asked the daemon (pid {})", daemon.id())), "{}", text(&out));
    assert_eq!(daemon.wait().unwrap().signal(), Some(libc::SIGHUP));
    // The process is gone now: a stale pid file means no daemon.
    let out = b.command(&["reload"]);
    assert_ok(&out);
    assert!(text(&out).contains("is gone"), "{}", text(&out));
}

#[test]
fn a_running_daemon_switches_models_between_two_parts_without_losing_one() {
    let f = fixtures();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (root, spool) = (dir.path().join("models"), dir.path().join("spool"));
    let trusted = keys::public_hex(&fixtures().trusted.verifying_key());
    let line = support::LineBox::with_models(
        &format!("root = {root:?}\ntrusted_keys = [\"{trusted}\"]"),
        &format!("[source]\nkind = \"spool\"\ndir = {spool:?}\nsettle_ms = 0\n[line]\ndeadline_ms = 60000\n"),
    );
    let config = line.config.to_str().unwrap();
    assert_ok(&run(&["flash", f.good.to_str().unwrap(), "--config", config], &[]));
    let daemon = line.start();
    let good = std::fs::read(support::sample("good.pcd")).unwrap();
    for n in 1..=2 {
        support::drop_scan(&spool, &format!("R-{n}.pcd"), &good);
    }
    line.wait_for_rows(2, &daemon);
    // Flash while a part arrives; the daemon is told through its pid file.
    let flashing = Command::new(EXE)
        .args(["flash", f.v2.to_str().unwrap(), "--config", config])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    support::drop_scan(&spool, "R-3.pcd", &good);
    let out = flashing.wait_with_output().unwrap();
    assert_ok(&out);
    assert!(text(&out).contains(&format!("pid {}", daemon.child.id())), "{}", text(&out));
    support::drop_scan(&spool, "R-4.pcd", &good);
    let rows = line.wait_for_rows(4, &daemon);
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    let parts: Vec<&str> = rows.iter().map(|r| r.part.as_str()).collect();
    assert_eq!(parts, ["R-1", "R-2", "R-3", "R-4"], "{log}");
    let models: Vec<&str> = rows.iter().map(|r| r.model.as_str()).collect();
    assert_eq!((models[0], models[1], models[3]), ("bunny 1.0.0", "bunny 1.0.0", "bunny 1.0.1"), "{log}");
    assert!(rows.iter().all(|r| r.action.as_str() == "pass"), "{rows:#?}");
    assert!(log.contains("reloaded: bunny 1.0.0 -> bunny 1.0.1"), "{log}");
}
