//! Installing a bundle on a box: verify, check compatibility, install into the inactive slot,
//! smoke-test on the golden samples with the real runtime, switch atomically, tell the daemon.
//! Every step leaves the box with a model `slots::resolve_active` can load, whenever the process
//! dies (tested by killing it after each [`Step`]).

use std::path::Path;

use crate::bundle::{self, Error, Golden, Inspected, Kind, Limits, Signer, Trust};
use crate::config::Config;
use crate::control::{self, Reload};
use crate::durable;
use crate::slots::{self, InstallRecord, Slot, SmokeTest};
use dus_core::cloud;
use dus_core::detector::{Detector, DusNet};
use dus_core::model::{Model, RuntimeConfig};
use dus_core::verdict::Verdict;

/// Test hook: the process SIGKILLs itself right after the step of this name.
pub const KILL_ENV: &str = "DUS_EDGE_FLASH_KILL_AFTER";

/// The steps of a flash, in order; after each one the box is in a known, recoverable state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The bundle was read whole: structure, hashes, signature, compatibility. Nothing written.
    Verified,
    /// Extracted into `slots/.staging` and fsynced.
    Staged,
    /// The inactive slot's old model was removed.
    Cleared,
    /// The staging folder was renamed into the inactive slot.
    Installed,
    /// Golden samples passed in the new slot (TensorRT engines built); `install.toml` written.
    SmokeTested,
    /// `active` points to the new slot.
    Switched,
    /// The running daemon was asked to reload (or none runs).
    Signalled,
}

impl Step {
    pub const ALL: [Step; 7] =
        [Step::Verified, Step::Staged, Step::Cleared, Step::Installed, Step::SmokeTested, Step::Switched, Step::Signalled];

    pub fn name(self) -> &'static str {
        match self {
            Step::Verified => "verified",
            Step::Staged => "staged",
            Step::Cleared => "cleared",
            Step::Installed => "installed",
            Step::SmokeTested => "smoke-tested",
            Step::Switched => "switched",
            Step::Signalled => "signalled",
        }
    }
}

/// Where a flash reports what it does (the command line shows a progress bar).
pub trait Progress {
    /// A step starts: what the box is doing now, in plain words.
    fn begin(&self, what: &str);
    /// The step finished; `detail` says what came of it.
    fn done(&self, step: Step, detail: &str);
    fn warn(&self, message: &str);
}

fn reached(step: Step, detail: &str, progress: &dyn Progress) {
    progress.done(step, detail);
    if std::env::var(KILL_ENV).is_ok_and(|s| s == step.name()) {
        control::power_cut();
    }
}

/// One golden sample's result on this box.
#[derive(Debug, Clone)]
pub struct SampleResult {
    pub golden: Golden,
    pub verdict: Verdict,
    pub object_score: f64,
}

impl SampleResult {
    pub fn passed(&self) -> bool {
        self.verdict == self.golden.verdict && (self.object_score - self.golden.object_score).abs() <= self.golden.tolerance
    }

    pub fn describe(&self) -> String {
        format!(
            "{}: {} with object score {:.4} (expected {} with {:.4} ± {:.4}) {}",
            self.golden.path,
            self.verdict,
            self.object_score,
            self.golden.verdict,
            self.golden.object_score,
            self.golden.tolerance,
            if self.passed() { "ok" } else { "MISMATCH" }
        )
    }
}

/// Verdict and object score of the model in `dir` on each scan (paths relative to `dir`).
pub fn measure(dir: &Path, scans: &[String], runtime: &RuntimeConfig) -> Result<Vec<(Verdict, f64)>, String> {
    let model = Model::load(dir, runtime).map_err(|e| format!("the model does not load: {e}"))?;
    let mut detector = DusNet::new(model);
    scans
        .iter()
        .map(|scan| {
            let cloud = cloud::read(&dir.join(scan)).map_err(|e| e.to_string())?;
            let inspection = detector.inspect(&cloud).map_err(|e| format!("{scan}: {e}"))?;
            Ok((Verdict::decide(inspection.object_score, inspection.threshold), inspection.object_score))
        })
        .collect()
}

/// Runs the golden samples in `dir`; an error when the model does not load or a sample mismatches.
pub fn smoke_test(dir: &Path, golden: &[Golden], runtime: &RuntimeConfig) -> Result<Vec<SampleResult>, Error> {
    let scans: Vec<String> = golden.iter().map(|g| g.path.clone()).collect();
    let measured = measure(dir, &scans, runtime).map_err(|m| Error::new(Kind::SmokeTest, format!("smoke test failed: {m}")))?;
    Ok(golden.iter().zip(measured).map(|(g, (verdict, object_score))| SampleResult { golden: g.clone(), verdict, object_score }).collect())
}

/// Everything `flash` checks before writing: the whole bundle, the signer, this box's runtime.
pub fn verify(bundle_path: &Path, config: &Config, progress: &dyn Progress) -> Result<Inspected, Error> {
    let trust = Trust::from_config(&config.models).map_err(|m| Error::new(Kind::Io, format!("the box configuration: {m}")))?;
    progress.begin("Checking the bundle: signature, contents, compatibility");
    let inspected = bundle::inspect(bundle_path, &Limits::default(), Some(&trust))?;
    match &inspected.signer {
        Signer::Trusted(_) => {}
        Signer::Unknown(key) => progress.warn(&format!(
            "DEVELOPMENT MODE: the bundle is signed by key {key}, which this box does not trust; installing it only because allow_unsigned = true in edge.toml"
        )),
        Signer::Unsigned => progress.warn("DEVELOPMENT MODE: the bundle is NOT SIGNED; installing it only because allow_unsigned = true in edge.toml"),
    }
    for warning in inspected.check_runtime(&config.runtime)? {
        progress.warn(&warning);
    }
    Ok(inspected)
}

/// What a finished flash did.
#[derive(Debug)]
pub struct Outcome {
    /// The slot installed (`None` for a dry run).
    pub slot: Option<Slot>,
    pub name: String,
    pub version: String,
    pub samples: Vec<SampleResult>,
    pub reload: Option<Reload>,
}

/// Holds `root/.flash.lock` so two flashes cannot interleave.
fn lock(root: &Path) -> Result<durable::Lock, Error> {
    durable::create_dir_all(&root.join(slots::SLOTS)).map_err(|e| Error::io("cannot create the model folder", root, e))?;
    let path = root.join(".flash.lock");
    durable::Lock::try_acquire(&path)
        .map_err(|e| Error::io("cannot open", &path, e))?
        .ok_or_else(|| Error::new(Kind::Io, format!("another flash or rollback is running on {} (wait for it to finish)", root.display())))
}

fn remove_if_present(path: &Path) -> Result<(), Error> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("cannot remove", path, e)),
        _ => Ok(()),
    }
}

fn sync(dir: &Path) -> Result<(), Error> {
    durable::sync_dir(dir).map_err(|e| Error::io("cannot sync", dir, e))
}

/// Installs the bundle at `bundle_path` as the box's active model (see the module docs); with
/// `dry_run`, verifies and smoke-tests it in a temporary folder and changes nothing.
pub fn flash(bundle_path: &Path, config: &Config, dry_run: bool, progress: &dyn Progress) -> Result<Outcome, Error> {
    let inspected = verify(bundle_path, config, progress)?;
    let (name, version) = (inspected.manifest.model.name.clone(), inspected.manifest.model.version.clone());
    reached(Step::Verified, &format!("{name} {version}: bundle intact, {}", signer_text(&inspected.signer)), progress);

    if dry_run {
        let temp = tempfile::tempdir().map_err(|e| Error::new(Kind::Io, format!("cannot create a temporary folder: {e}")))?;
        let dir = temp.path().join("model");
        progress.begin("Unpacking into a temporary folder (dry run)");
        bundle::extract(&inspected, &Limits::default(), &dir)?;
        progress.begin("Running the golden samples (dry run)");
        let samples = smoke_test(&dir, &inspected.manifest.golden, &config.runtime)?;
        fail_on_mismatch(&samples)?;
        return Ok(Outcome { slot: None, name, version, samples, reload: None });
    }

    let root = config.models.root.as_path();
    let _lock = lock(root)?;
    let slots_dir = root.join(slots::SLOTS);
    let (staging, trash) = (slots_dir.join(".staging"), slots_dir.join(".trash"));
    // Leftovers of an interrupted flash.
    remove_if_present(&staging)?;
    remove_if_present(&trash)?;

    // Install next to the model in use, whatever slot that is (the fallback when the active slot is broken).
    let in_use = slots::resolve_active(root).ok().and_then(|r| r.slot);
    let target = in_use.map_or(Slot::A, Slot::other);
    let target_dir = target.dir(root);
    if let Some(old) = InstallRecord::read(&target_dir) {
        progress.warn(&format!(
            "slot {target} holds {} {} (installed {}), which this flash replaces; afterwards, rollback returns to the model in use now",
            old.model, old.version, old.installed
        ));
    }

    progress.begin(&format!("Unpacking into slot {target}"));
    bundle::extract(&inspected, &Limits::default(), &staging)?;
    sync(&slots_dir)?;
    reached(Step::Staged, "unpacked and synced", progress);

    if target_dir.exists() {
        std::fs::rename(&target_dir, &trash).map_err(|e| Error::io("cannot move away", &target_dir, e))?;
        sync(&slots_dir)?;
        remove_if_present(&trash)?;
    }
    reached(Step::Cleared, &format!("slot {target} is free"), progress);

    std::fs::rename(&staging, &target_dir).map_err(|e| Error::io("cannot move into place", &target_dir, e))?;
    sync(&slots_dir)?;
    reached(Step::Installed, &format!("installed in slot {target}"), progress);

    let runtime = slots::runtime_for(&target_dir, &config.runtime);
    if let Some(cache) = &runtime.engine_cache {
        std::fs::create_dir_all(cache).map_err(|e| Error::io("cannot create the engine cache", cache, e))?;
    }
    progress.begin(if runtime.engine_cache.is_some() {
        "Testing the new model on its golden samples and building the TensorRT engines (may take minutes)"
    } else {
        "Testing the new model on its golden samples"
    });
    let tested = smoke_test(&target_dir, &inspected.manifest.golden, &runtime);
    let smoke = match &tested {
        Ok(samples) => {
            SmokeTest { passed: samples.iter().all(SampleResult::passed), details: samples.iter().map(SampleResult::describe).collect() }
        }
        Err(e) => SmokeTest { passed: false, details: vec![e.message.clone()] },
    };
    let record = InstallRecord {
        model: name.clone(),
        version: version.clone(),
        bundle_sha256: inspected.sha256.clone(),
        signer: match &inspected.signer {
            Signer::Trusted(k) | Signer::Unknown(k) => k.clone(),
            Signer::Unsigned => "unsigned".into(),
        },
        installed: bundle::rfc3339(std::time::SystemTime::now()),
        smoke_test: smoke,
    };
    record.write(&target_dir).map_err(|e| Error::io("cannot write", &target_dir.join(slots::INSTALL_RECORD), e))?;
    let samples = tested?;
    fail_on_mismatch(&samples)?;
    reached(Step::SmokeTested, &format!("{} golden samples passed", samples.len()), progress);

    slots::switch_active(root, target).map_err(|e| Error::io("cannot switch the active model in", root, e))?;
    reached(Step::Switched, &format!("slot {target} is now active"), progress);

    let reload = tell_daemon(&config.daemon.pid_file, progress);
    reached(Step::Signalled, &reload_text(&reload), progress);
    Ok(Outcome { slot: Some(target), name, version, samples, reload })
}

fn fail_on_mismatch(samples: &[SampleResult]) -> Result<(), Error> {
    let failed: Vec<String> = samples.iter().filter(|s| !s.passed()).map(SampleResult::describe).collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        Kind::SmokeTest,
        format!(
            "smoke test failed: the model does not give its recorded answers on this box ({}); the active model was not changed. Send this message to whoever packed the bundle",
            failed.join("; ")
        ),
    ))
}

fn signer_text(signer: &Signer) -> String {
    match signer {
        Signer::Trusted(k) => format!("signed by trusted key {}…", &k[..16]),
        Signer::Unknown(k) => format!("signed by UNTRUSTED key {}…", &k[..16]),
        Signer::Unsigned => "UNSIGNED".into(),
    }
}

/// Asks the daemon to reload; a failure is a warning, since the switch already happened.
fn tell_daemon(pid_file: &Path, progress: &dyn Progress) -> Option<Reload> {
    match control::reload(pid_file) {
        Ok(reload) => Some(reload),
        Err(e) => {
            progress
                .warn(&format!("the new model is active, but the daemon was not told: {e}; run `edge-tool reload` or restart the daemon"));
            None
        }
    }
}

pub fn reload_text(reload: &Option<Reload>) -> String {
    match reload {
        Some(Reload::Sent(pid)) => format!("the daemon (pid {pid}) switches models before the next part"),
        Some(Reload::NotRunning(why)) => format!("{why}; it loads the new model when it starts"),
        None => "the daemon was not told to reload".into(),
    }
}

/// Switches back to the other slot when it holds a fully installed model that passed its smoke
/// test, and tells the daemon. Returns the slot now active and its record.
pub fn rollback(config: &Config, progress: &dyn Progress) -> Result<(Slot, InstallRecord, Option<Reload>), Error> {
    let root = config.models.root.as_path();
    let _lock = lock(root)?;
    let active = slots::active_slot(root).ok_or_else(|| {
        Error::new(Kind::NoRollback, format!("{} has no active slot, so there is nothing to roll back from", root.display()))
    })?;
    let previous = active.other();
    progress.begin(&format!("Checking the previous model in slot {previous}"));
    let (_, record) = slots::check_standby(root, previous)
        .map_err(|why| Error::new(Kind::NoRollback, format!("cannot roll back: {why}; the active model (slot {active}) stays")))?;
    slots::switch_active(root, previous).map_err(|e| Error::io("cannot switch the active model in", root, e))?;
    progress.done(Step::Switched, &format!("slot {previous} ({} {}) is active again", record.model, record.version));
    let reload = tell_daemon(&config.daemon.pid_file, progress);
    progress.done(Step::Signalled, &reload_text(&reload));
    Ok((previous, record, reload))
}
