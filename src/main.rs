use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sphere::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sphere: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(sphere::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sphere: {e:#}");
            ExitCode::FAILURE
        }
    }
}
