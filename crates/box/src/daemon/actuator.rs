//! The reject output: one interface over the GPIO back-ends, so the loop only says "reject this
//! part now". Real pins need hardware this box may lack, so the simulated actuator records what a
//! real one would have been told (line, level, pulse length, time, part id) for tests to assert.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::{ActuatorConfig, ActuatorKind};

/// One reject pulse as it was (or, simulated, would have been) driven.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pulse {
    pub part: String,
    pub line: u32,
    /// The level driven while active: true = high.
    pub active_high: bool,
    pub length_ms: u64,
    /// When the line went active, milliseconds since the Unix epoch.
    pub unix_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ActuatorError {
    #[error("actuator kind '{0}' is not in this build; rebuild with `--features {0}`")]
    NotBuilt(&'static str),
    #[error("GPIO line {line}: {message}")]
    Gpio { line: u32, message: String },
    #[error("{path}: cannot record pulses: {source}")]
    Record { path: PathBuf, source: std::io::Error },
}

/// A reject ejector on one output line.
pub trait Actuator: Send {
    /// Drives the line active for the configured pulse length, then inactive again.
    fn pulse(&mut self, part: &str) -> Result<(), ActuatorError>;
    fn describe(&self) -> String;
}

/// Opens the configured actuator; `recorded` receives the simulated actuator's pulses.
pub fn open(config: &ActuatorConfig, recorded: Arc<Mutex<Vec<Pulse>>>) -> Result<Box<dyn Actuator>, ActuatorError> {
    match config.kind {
        ActuatorKind::Simulated => Ok(Box::new(Simulated::new(config, recorded)?)),
        ActuatorKind::Rppal => rpi::open(config),
        ActuatorKind::GpioCdev => cdev::open(config),
    }
}

/// No hardware: each pulse is logged, kept in memory and, with `record`, appended to a JSON-lines
/// file (fsynced, so a test in another process reads every pulse).
pub struct Simulated {
    config: ActuatorConfig,
    recorded: Arc<Mutex<Vec<Pulse>>>,
    file: Option<std::fs::File>,
}

impl Simulated {
    fn new(config: &ActuatorConfig, recorded: Arc<Mutex<Vec<Pulse>>>) -> Result<Simulated, ActuatorError> {
        let file = match &config.record {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| ActuatorError::Record { path: path.clone(), source })?,
            ),
            None => None,
        };
        Ok(Simulated { config: config.clone(), recorded, file })
    }

    fn append(&mut self, pulse: &Pulse) -> std::io::Result<()> {
        if let Some(file) = &mut self.file {
            writeln!(file, "{}", serde_json::to_string(pulse).map_err(std::io::Error::other)?)?;
            file.sync_data()?;
        }
        Ok(())
    }
}

impl Actuator for Simulated {
    fn pulse(&mut self, part: &str) -> Result<(), ActuatorError> {
        let unix_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let c = self.config.clone();
        let pulse = Pulse { part: part.to_string(), line: c.line, active_high: c.active_high, length_ms: c.pulse_ms, unix_ms };
        log::info!(
            "simulated reject pulse: part {part}, line {} {} for {} ms",
            c.line,
            if c.active_high { "high" } else { "low" },
            c.pulse_ms
        );
        std::thread::sleep(Duration::from_millis(c.pulse_ms));
        self.append(&pulse).map_err(|source| ActuatorError::Record { path: c.record.unwrap_or_default(), source })?;
        self.recorded.lock().unwrap_or_else(|p| p.into_inner()).push(pulse);
        Ok(())
    }

    fn describe(&self) -> String {
        format!("simulated actuator (line {}, pulse {} ms)", self.config.line, self.config.pulse_ms)
    }
}

/// One pulse on real hardware: `set(true)`, the pulse length, `set(false)`.
#[cfg(any(feature = "rppal", feature = "gpiocdev"))]
fn drive(config: &ActuatorConfig, mut set: impl FnMut(bool) -> Result<(), String>) -> Result<(), ActuatorError> {
    let gpio = |message| ActuatorError::Gpio { line: config.line, message };
    set(true).map_err(gpio)?;
    std::thread::sleep(Duration::from_millis(config.pulse_ms));
    set(false).map_err(gpio)
}

#[cfg(feature = "rppal")]
mod rpi {
    use super::*;

    /// A Raspberry Pi BCM pin through rppal.
    struct Rppal {
        config: ActuatorConfig,
        pin: rppal::gpio::OutputPin,
    }

    pub fn open(config: &ActuatorConfig) -> Result<Box<dyn Actuator>, ActuatorError> {
        let gpio = |e: rppal::gpio::Error| ActuatorError::Gpio { line: config.line, message: e.to_string() };
        let line =
            u8::try_from(config.line).map_err(|_| ActuatorError::Gpio { line: config.line, message: "not a BCM pin number".into() })?;
        let mut pin = rppal::gpio::Gpio::new().map_err(gpio)?.get(line).map_err(gpio)?.into_output();
        pin.write(level(config.active_high, false));
        Ok(Box::new(Rppal { config: config.clone(), pin }))
    }

    fn level(active_high: bool, active: bool) -> rppal::gpio::Level {
        if active == active_high {
            rppal::gpio::Level::High
        } else {
            rppal::gpio::Level::Low
        }
    }

    impl Actuator for Rppal {
        fn pulse(&mut self, _part: &str) -> Result<(), ActuatorError> {
            let (pin, high) = (&mut self.pin, self.config.active_high);
            drive(&self.config, |active| {
                pin.write(level(high, active));
                Ok(())
            })
        }

        fn describe(&self) -> String {
            format!("rppal BCM pin {} (pulse {} ms)", self.config.line, self.config.pulse_ms)
        }
    }
}

#[cfg(not(feature = "rppal"))]
mod rpi {
    use super::*;

    pub fn open(_: &ActuatorConfig) -> Result<Box<dyn Actuator>, ActuatorError> {
        Err(ActuatorError::NotBuilt("rppal"))
    }
}

#[cfg(feature = "gpiocdev")]
mod cdev {
    use super::*;
    use gpiocdev::line::Value;

    /// A line of the Linux GPIO character device (Jetson and most embedded Linux boards).
    struct Cdev {
        config: ActuatorConfig,
        request: gpiocdev::Request,
    }

    pub fn open(config: &ActuatorConfig) -> Result<Box<dyn Actuator>, ActuatorError> {
        let mut builder = gpiocdev::Request::builder();
        builder.on_chip(&config.chip).with_consumer("dus-edge reject").with_line(config.line).as_output(Value::Inactive);
        if !config.active_high {
            builder.as_active_low();
        }
        let request =
            builder.request().map_err(|e| ActuatorError::Gpio { line: config.line, message: format!("{}: {e}", config.chip.display()) })?;
        Ok(Box::new(Cdev { config: config.clone(), request }))
    }

    impl Actuator for Cdev {
        fn pulse(&mut self, _part: &str) -> Result<(), ActuatorError> {
            let (request, line) = (&self.request, self.config.line);
            drive(&self.config, |active| {
                let value = if active { Value::Active } else { Value::Inactive };
                request.set_value(line, value).map(|_| ()).map_err(|e| e.to_string())
            })
        }

        fn describe(&self) -> String {
            format!("{} line {} (pulse {} ms)", self.config.chip.display(), self.config.line, self.config.pulse_ms)
        }
    }
}

#[cfg(not(feature = "gpiocdev"))]
mod cdev {
    use super::*;

    pub fn open(_: &ActuatorConfig) -> Result<Box<dyn Actuator>, ActuatorError> {
        Err(ActuatorError::NotBuilt("gpiocdev"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_pulses_are_recorded_in_memory_and_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("pulses.jsonl");
        let config =
            ActuatorConfig { line: 23, active_high: false, pulse_ms: 5, record: Some(record.clone()), ..ActuatorConfig::default() };
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let mut actuator = open(&config, recorded.clone()).unwrap();
        actuator.pulse("part-7").unwrap();
        let on_disk: Pulse = serde_json::from_str(std::fs::read_to_string(&record).unwrap().trim()).unwrap();
        let in_memory = recorded.lock().unwrap().clone();
        assert_eq!(in_memory, std::slice::from_ref(&on_disk));
        assert_eq!((on_disk.part.as_str(), on_disk.line, on_disk.active_high, on_disk.length_ms), ("part-7", 23, false, 5));
    }

    #[cfg(not(feature = "gpiocdev"))]
    #[test]
    fn an_actuator_left_out_of_the_build_says_which_feature_adds_it() {
        let config = ActuatorConfig { kind: ActuatorKind::GpioCdev, ..ActuatorConfig::default() };
        let message = open(&config, Arc::default()).err().unwrap().to_string();
        assert!(message.contains("--features gpiocdev"), "{message}");
    }
}
