//! dus-core: the inference core of dus-edge, a scan in and a verdict out.
//!
//! Data flows one way: a scan is read into a [`cloud::Cloud`], registered and grouped into patches
//! ([`registration`], [`grouping`]), reconstructed anomaly-free by DUS-Net ([`model`]), scored
//! against that reconstruction ([`scoring`]) and judged ([`verdict`]). [`detector`] strings these
//! stages together. Nothing here knows a command line, a daemon or a journal: the box
//! (`dus-box`) and the workstation tools (`dus-workstation`) build on this crate, never the
//! reverse. See ARCHITECTURE.md for the map.
#![deny(missing_docs)]

pub mod cloud;
pub mod detector;
pub mod grouping;
pub mod model;
pub mod registration;
pub mod scoring;
pub mod spatial;
pub mod verdict;
