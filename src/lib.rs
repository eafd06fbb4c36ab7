//! dus-edge: decides for every scanned part whether it is defective.
//!
//! Data flows one way: a scan is read into a [`cloud::Cloud`], registered and grouped into patches
//! ([`registration`], [`grouping`]), reconstructed anomaly-free by DUS-Net ([`model`]), scored
//! against that reconstruction ([`scoring`]) and judged ([`verdict`]). [`detector`] strings these
//! stages together; [`dataset`] and [`metrics`] measure detectors on labelled data; [`render`]
//! draws a scored scan for people. See
//! ARCHITECTURE.md for the map.

pub mod bundle;
pub mod calibration;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dataset;
pub mod detector;
pub mod flash;
pub mod grouping;
pub mod metrics;
pub mod model;
pub mod registration;
pub mod render;
pub mod scoring;
pub mod slots;
pub mod spatial;
pub mod verdict;
