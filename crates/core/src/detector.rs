//! Detectors: a scan in, per-point and object scores out. DUS-Net is the product; the golden-part
//! comparison (register, then distance to the part's templates) is the honest baseline that plants
//! use without learning, kept behind the same interface so `eval` can measure both.

use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::cloud::{rms_radius, Cloud};
use crate::grouping::{NoiseLevels, Patches, Pyramid};
use crate::model::{Manifest, MissingAgainst, Model, ModelError, Noise, ScanCheck};
use crate::registration::{stride_indices, Pose, Reference};
use crate::scoring::{at_scan_density, point_scores, Normality, ScoringRule};

/// A pipeline stage, for timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// ICP onto the reference and the normalisation.
    Register,
    /// FPS centers and KNN patches of every grouping pass.
    Group,
    /// The Down-Net call: noisy patches to clean centers.
    DownNet,
    /// The Up-Net's multi-scale indices over the predicted centers.
    Pyramid,
    /// The Up-Net call: centers to the dense reconstruction.
    UpNet,
    /// Point and object scores against the normality cloud.
    Score,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 6] = [Stage::Register, Stage::Group, Stage::DownNet, Stage::Pyramid, Stage::UpNet, Stage::Score];

    /// The stage's name in reports, the journal and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Register => "register",
            Stage::Group => "group",
            Stage::DownNet => "down_net",
            Stage::Pyramid => "pyramid",
            Stage::UpNet => "up_net",
            Stage::Score => "score",
        }
    }
}

/// A duration in milliseconds, as reports show them.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// What a detector found on one scan.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// One score per scan point, scan units.
    pub point_scores: Vec<f32>,
    /// Scan units: the worst point's score (eq. 17) or the mean of the worst few (`top_points`).
    pub object_score: f64,
    /// The object-score threshold, if the detector is calibrated.
    pub threshold: Option<f64>,
    /// How long each stage took, in pipeline order.
    pub timings: Vec<(Stage, Duration)>,
}

/// Why a scan was not inspected; on the line each one is a fail-safe reject with its fault.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("the scan has {have} points; the model needs at least {need}")]
    /// Fewer points than the model groups.
    TooFewPoints {
        /// Points in the scan.
        have: usize,
        /// Points the grouping needs.
        need: usize,
    },
    #[error("incomplete scan: {have} points, where a whole scan of this part has {expected} (at least {} % needed)", min_fraction * 100.0)]
    /// Far fewer points than a whole scan of this part (`[scan] min_fraction`).
    Incomplete {
        /// Points in the scan.
        have: usize,
        /// Points of a whole scan (`[scan] points`).
        expected: usize,
        /// The fraction of them a scan must have.
        min_fraction: f64,
    },
    #[error("wrong extent: the scan is {ratio:.3}x the part's (allowed {:.2}x to {max_ratio:.2}x): another part, or other units", 1.0 / max_ratio)]
    /// A size that is not the part's: another part, or other units.
    WrongExtent {
        /// The scan's extent over the reference's.
        ratio: f64,
        /// The largest ratio allowed either way.
        max_ratio: f64,
    },
    #[error("registration failed: {0}")]
    /// ICP found no pose.
    Registration(String),
    #[error(transparent)]
    /// The graphs failed.
    Model(#[from] ModelError),
}

/// Something that scores a scan: DUS-Net, or the golden part it is measured against.
pub trait Detector {
    /// The detector's name in reports (`dus-net`, `reference`).
    fn name(&self) -> &'static str;
    /// Scores every point of `cloud` and the part as a whole.
    fn inspect(&mut self, cloud: &Cloud) -> Result<Inspection, DetectError>;
}

/// Records how long each stage takes.
#[derive(Default)]
struct Stopwatch(Vec<(Stage, Duration)>);

impl Stopwatch {
    fn time<T>(&mut self, stage: Stage, work: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let result = work();
        self.0.push((stage, start.elapsed()));
        result
    }
}

/// The part's frame: registration onto the reference cloud, then the manifest's fixed normalisation.
struct Frame {
    reference: Reference,
    /// The reference's RMS distance from its centroid (rotation does not change it).
    extent: f64,
    scan: ScanCheck,
    register: bool,
    center: [f64; 3],
    scale: f64,
}

impl Frame {
    fn new(model: &Model) -> Frame {
        Frame::with_reference(model, model.reference())
    }

    /// `model`'s normalisation, registering onto `reference` instead of the model's own.
    fn with_reference(model: &Model, reference: &[[f32; 3]]) -> Frame {
        let n = &model.manifest.normalisation;
        Frame {
            reference: Reference::new(reference),
            extent: rms_radius(reference),
            scan: model.manifest.scan,
            register: n.register,
            center: n.center,
            scale: n.scale,
        }
    }

    /// Refuses, before any work, a scan that is not a whole scan of this part (`[scan]`).
    fn admit(&self, cloud: &Cloud) -> Result<(), DetectError> {
        let check = &self.scan;
        if let Some(expected) = check.points {
            if (cloud.len() as f64) < check.min_fraction * expected as f64 {
                return Err(DetectError::Incomplete { have: cloud.len(), expected, min_fraction: check.min_fraction });
            }
        }
        let ratio = rms_radius(cloud.points()) / self.extent;
        if !(ratio <= check.max_extent_ratio && ratio * check.max_extent_ratio >= 1.0) {
            return Err(DetectError::WrongExtent { ratio, max_ratio: check.max_extent_ratio });
        }
        Ok(())
    }

    fn pose(&self, points: &[[f32; 3]]) -> Pose {
        if self.register {
            self.reference.register(points)
        } else {
            Pose::identity()
        }
    }

    /// Scan points registered and normalised: `(R p + t - center) / scale`.
    fn normalise(&self, points: &[[f32; 3]], pose: &Pose) -> Vec<[f32; 3]> {
        points
            .iter()
            .map(|p| {
                let q = pose.apply(&p.map(f64::from));
                [0, 1, 2].map(|k| ((q[k] - self.center[k]) / self.scale) as f32)
            })
            .collect()
    }
}

/// DUS-Net: group, Down-Net, Up-Net, distance to the reconstruction.
pub struct DusNet {
    model: Model,
    frame: Frame,
    /// The whole part (normalised frame) for the missing-material term: where a scan lacks
    /// material its reconstruction lacks it too, since the Down-Net only sees centers the scan
    /// has. `scoring.missing_against` says which cloud: the model's reconstruction of its own
    /// reference, or the reference itself. Made at load; if the graphs fail then, again with each
    /// part, which then fails safe.
    complete: Option<Normality>,
}

impl DusNet {
    /// DUS-Net on a loaded model; makes the whole part for missing material and warms the
    /// graphs up, so the first part is not the slow one.
    pub fn new(model: Model) -> DusNet {
        let frame = Frame::new(&model);
        let mut net = DusNet { model, frame, complete: None };
        match net.complete_part() {
            Ok(complete) => net.complete = Some(complete),
            Err(e) => log::warn!("{}: cannot reconstruct the reference yet: {e}", net.model.dir.display()),
        }
        if net.model.manifest.scoring.missing_against == MissingAgainst::Reference {
            // Warm-up: ONNX Runtime's first run of a graph sizes its memory and is slower; the
            // reconstruction of the reference above is that run when missing material needs it.
            let reference = net.model.reference().to_vec();
            if let Err(e) = net.reconstruct_clean(&reference) {
                log::warn!("{}: warm-up failed: {e}", net.model.dir.display());
            }
        }
        net
    }

    /// The cloud missing material is judged against, made from the reference cloud.
    fn complete_part(&mut self) -> Result<Normality, DetectError> {
        let reference = self.model.reference().to_vec();
        self.complete_from(&reference)
    }

    /// The cloud missing material is judged against, made from `part` (the reference's frame,
    /// scan units) as `scoring.missing_against` says: `part` itself, or one noise-free Down-Net
    /// and Up-Net pass over it.
    fn complete_from(&mut self, part: &[[f32; 3]]) -> Result<Normality, DetectError> {
        Ok(Normality::points_only(match self.model.manifest.scoring.missing_against {
            MissingAgainst::Reference => self.frame.normalise(part, &Pose::identity()),
            MissingAgainst::Reconstruction => self.reconstruct_clean(part)?,
        }))
    }

    /// One noise-free Down-Net and Up-Net pass over `part`: its reconstruction, normalised frame.
    fn reconstruct_clean(&mut self, part: &[[f32; 3]]) -> Result<Vec<[f32; 3]>, DetectError> {
        let clean = NoiseLevels { alpha: 0.0, beta: 0.0 };
        let (_, mut reconstructions) =
            self.reconstruct(part, |passes| passes.iter().map(|p| p.noisy(clean, 0)).collect(), &mut Stopwatch::default())?;
        Ok(reconstructions.swap_remove(0))
    }

    /// Judges missing material against `part` (registered, scan units) instead of the
    /// reference: leave-one-out calibration scores a template against the others, since against
    /// a reference that contains it a template lacks nothing.
    pub fn judge_missing_against(&mut self, part: &[[f32; 3]]) -> Result<(), DetectError> {
        self.complete = Some(self.complete_from(part)?);
        Ok(())
    }

    /// The model's `model.toml`.
    pub fn manifest(&self) -> &Manifest {
        &self.model.manifest
    }
}

/// Noisy Down-Net inputs for each test-time draw (seed, seed + 1, ...), each draw over every
/// grouping pass: draw-major, so a draw's reconstruction is `passes` consecutive batch items.
fn draws(noise: &Noise, passes: &[Patches]) -> Vec<(Vec<f32>, Vec<f32>)> {
    let levels = NoiseLevels { alpha: noise.alpha, beta: noise.beta };
    (0..noise.draws as u64).flat_map(|d| passes.iter().map(move |p| p.noisy(levels, noise.seed + d))).collect()
}

impl Detector for DusNet {
    fn name(&self) -> &'static str {
        "dus-net"
    }

    fn inspect(&mut self, cloud: &Cloud) -> Result<Inspection, DetectError> {
        let manifest = &self.model.manifest;
        let need = manifest.points_needed();
        if cloud.len() < need {
            return Err(DetectError::TooFewPoints { have: cloud.len(), need });
        }
        self.frame.admit(cloud)?;
        let (rule, noise) = (manifest.scoring.rule(), manifest.noise);
        let mut watch = Stopwatch::default();
        let complete = match self.complete.take() {
            Some(complete) => complete,
            None => self.complete_part()?,
        };
        let (scan, reconstructions) = self.reconstruct(cloud.points(), |patches| draws(&noise, patches), &mut watch)?;
        let scale = self.frame.scale as f32;
        let scores = watch.time(Stage::Score, || {
            at_scan_density(&scan, self.frame.scan.points, rule.top_points(), |scan| {
                mean_scores(scan, reconstructions, &complete, &rule, scale)
            })
        });
        self.complete = Some(complete);
        Ok(finish(scores, Some(self.model.manifest.scoring.threshold), watch))
    }
}

/// The scan registered and normalised, and one reconstruction per noise draw.
type Reconstructed = (Vec<[f32; 3]>, Vec<Vec<[f32; 3]>>);

impl DusNet {
    /// Register, normalise, group, Down-Net, Up-Net: the normalised points and one reconstruction
    /// per draw, the union of the Up-Net outputs of `grouping.passes` consecutive batch items
    /// that `batch` makes from the passes' patches.
    fn reconstruct(
        &mut self,
        points: &[[f32; 3]],
        batch: impl FnOnce(&[Patches]) -> Vec<(Vec<f32>, Vec<f32>)>,
        watch: &mut Stopwatch,
    ) -> Result<Reconstructed, DetectError> {
        let g = self.model.manifest.grouping;
        let scan = watch.time(Stage::Register, || {
            let pose = self.frame.pose(points);
            self.frame.normalise(points, &pose)
        });
        let patches = watch.time(Stage::Group, || {
            let sample: Vec<[f32; 3]> = stride_indices(scan.len(), g.points).into_iter().map(|i| scan[i]).collect();
            Patches::groupings(&sample, g.groups, g.group_size, g.passes)
        });
        let batch = batch(&patches);
        let centers = watch.time(Stage::DownNet, || self.model.predict_centers(&batch))?;
        // One pyramid per batch item (pass and draw), independent of each other: one per core.
        let pyramids: Vec<Pyramid> =
            watch.time(Stage::Pyramid, || centers.par_iter().map(|c| Pyramid::build(c, g.up_neighbours)).collect());
        let outputs = watch.time(Stage::UpNet, || self.model.reconstruct(&centers, &pyramids))?;
        Ok((scan, outputs.chunks(g.passes).map(|passes| passes.concat()).collect()))
    }
}

/// Point scores in scan units, averaged over the noise draws' reconstructions.
fn mean_scores(scan: &[[f32; 3]], reconstructions: Vec<Vec<[f32; 3]>>, complete: &Normality, rule: &ScoringRule, scale: f32) -> Vec<f32> {
    let mut total = vec![0.0f32; scan.len()];
    let draws = reconstructions.len().max(1) as f32;
    for reconstruction in reconstructions {
        let normality = Normality::for_one_scan(reconstruction, rule);
        for (t, s) in total.iter_mut().zip(point_scores(scan, &normality, complete, rule, scale)) {
            *t += s;
        }
    }
    total.into_iter().map(|t| t / draws).collect()
}

fn finish((point_scores, object_score): (Vec<f32>, f32), threshold: Option<f64>, watch: Stopwatch) -> Inspection {
    Inspection { point_scores, object_score: f64::from(object_score), threshold, timings: watch.0 }
}

/// The golden-part comparison: register onto the part's templates and score each point against
/// them with the model's scoring rule (the templates are the normality cloud).
pub struct GoldenPart {
    frame: Frame,
    normality: Normality,
    rule: ScoringRule,
    threshold: Option<f64>,
}

impl GoldenPart {
    /// Uses the model folder's reference cloud and its calibrated `reference_threshold`; the
    /// reference's local planes are fitted here, once.
    pub fn new(model: &Model) -> GoldenPart {
        GoldenPart::from_templates(model.reference(), model, model.manifest.scoring.reference_threshold)
    }

    /// Compares scans with `templates` (registered, scan units) in `model`'s frame and rule: the
    /// leave-one-out calibration scores each template against the others this way.
    pub fn from_templates(templates: &[[f32; 3]], model: &Model, threshold: Option<f64>) -> GoldenPart {
        let rule = model.manifest.scoring.rule();
        let frame = Frame::with_reference(model, templates);
        GoldenPart { frame, normality: Normality::new(templates.to_vec(), &rule), rule, threshold }
    }
}

impl Detector for GoldenPart {
    fn name(&self) -> &'static str {
        "reference"
    }

    fn inspect(&mut self, cloud: &Cloud) -> Result<Inspection, DetectError> {
        self.frame.admit(cloud)?;
        let mut watch = Stopwatch::default();
        let pose = watch.time(Stage::Register, || self.frame.pose(cloud.points()));
        let scores = watch.time(Stage::Score, || {
            let registered = pose.apply_all(cloud.points());
            at_scan_density(&registered, self.frame.scan.points, self.rule.top_points(), |scan| {
                point_scores(scan, &self.normality, &self.normality, &self.rule, 1.0)
            })
        });
        Ok(finish(scores, self.threshold, watch))
    }
}
