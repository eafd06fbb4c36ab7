//! `edge-tool`: the command line of dus-edge. Everything it does lives in the `dus-core`,
//! `dus-box` and (with the `workstation` feature) `dus-workstation` crates.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match cli::run(cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::describe_error(&e));
            std::process::ExitCode::from(cli::exit_code(&e))
        }
    }
}
