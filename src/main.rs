use clap::Parser;
use sharecard::config::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let code = match Cli::parse().into_command() {
        Command::Serve(args) => sharecard::run_server(args).map(|()| 0)?,
        Command::Sign(args) => sharecard::cli::sign(args)?,
        Command::Render(args) => sharecard::cli::render(args)?,
        Command::Check(args) => sharecard::cli::check(args)?,
        Command::Warm(args) => sharecard::cli::warm(args)?,
    };
    std::process::exit(code)
}
