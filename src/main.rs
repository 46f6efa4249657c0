use clap::Parser;
use sharecard::cli::{EXIT_USAGE, UsageError};
use sharecard::config::{Cli, Command};

/// Runs the command and exits with its code. A failure is one line on
/// stderr, `error: ` and its causes, never a backtrace (even with
/// RUST_BACKTRACE set): exit 2 when the input was wrong, 1 otherwise.
fn main() {
    let result = match Cli::parse().into_command() {
        Command::Serve(args) => sharecard::run_server(args).map(|()| 0),
        Command::Sign(args) => sharecard::cli::sign(args),
        Command::Render(args) => sharecard::cli::render(args),
        Command::Check(args) => sharecard::cli::check(args),
        Command::Warm(args) => sharecard::cli::warm(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                EXIT_USAGE
            } else {
                1
            }
        }
    };
    std::process::exit(code)
}
