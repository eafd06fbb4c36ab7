//! dus-box: what runs on the box beside the inference core.
//!
//! The box's configuration ([`config`]), the line daemon ([`daemon`]: sources, the journal,
//! actuators, metrics, the status page), pictures of rejects for people ([`render`]), and model
//! updates in the field: bundles ([`bundle`], read and verified, never written here), the A/B
//! model slots ([`slots`]), installing with rollback ([`flash`]) and telling a running daemon
//! ([`control`]). Files that must survive a power cut go through [`durable`].

pub mod bundle;
pub mod config;
pub mod control;
pub mod daemon;
pub mod durable;
pub mod flash;
pub mod render;
pub mod slots;
