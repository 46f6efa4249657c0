use clap::Parser;
use sharecard::config::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.into_command() {
        Command::Serve(args) => sharecard::run_server(args),
    }
}
