use clap::Parser;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match dus_edge::cli::run(dus_edge::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", dus_edge::cli::describe_error(&e));
            std::process::ExitCode::from(dus_edge::cli::exit_code(&e))
        }
    }
}
