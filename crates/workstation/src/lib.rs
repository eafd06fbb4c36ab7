//! dus-workstation: what only the workstation needs, kept off the box.
//!
//! Labelled datasets ([`dataset`]) and the detection metrics measured on them ([`metrics`]),
//! thresholds from good parts ([`calibration`]), signing keys ([`signing`]) and writing signed
//! model bundles ([`pack`]). Boxes read and verify bundles with `dus_box::bundle`.

pub mod calibration;
pub mod dataset;
pub mod metrics;
pub mod pack;
pub mod signing;
