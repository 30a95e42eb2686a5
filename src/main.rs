use std::process::ExitCode;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`sphere catalog list | head`) as Unix tools do,
    // instead of panicking in `println!`.
    // SAFETY: setting a signal disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // One malloc arena for every thread. The demo opens on a blocking thread and the
    // TUI runs on the runtime's workers: with an arena each, what reading the saved
    // state frees stays resident in one arena while the others grow (98.9 MB resident
    // against 81.5 with one arena, at services=10000,clusters=60,pods=50000). sphere's
    // threads seldom allocate at the same moment, so they seldom wait on each other.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; no thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    // `COMPLETE=bash sphere …`: the shell asks for completions; answered, then exit.
    sphere::cli::complete_if_asked();
    let cli = match sphere::cli::parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
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
    let ran = runtime.block_on(sphere::cli::run(cli));
    // The TUI quits while the demo may still be opening on a blocking thread (the user
    // pressed `q` first): that is not waited for long, as every write of the demo's
    // state is atomic (a temporary file renamed) and the next start cleans up.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match ran {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sphere: {e:#}");
            if e.downcast_ref::<sphere::cli::UsageError>().is_some() {
                ExitCode::from(2)
            } else if e.downcast_ref::<sphere::cli::Refused>().is_some() {
                ExitCode::from(4)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
