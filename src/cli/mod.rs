//! The subcommands other than `serve`: `sign`, `render`, `check`, `warm`,
//! one module each.
//!
//! Each returns the process exit code; messages go to stderr, results
//! (URLs, file names) to stdout so they can be piped.

mod check;
mod render;
mod sign;
mod warm;

/// Exit code of a command whose input was wrong (a usage error, as clap
/// exits with for a bad flag): fix the command and run it again.
pub const EXIT_USAGE: i32 = 2;

/// A command's input is wrong: the message says what and how to fix it,
/// and the process exits with [`EXIT_USAGE`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The template `name` names in `renderer`, or a message that lists the
/// ones there are.
fn template(
    renderer: &sharecard_render::render::Renderer,
    name: &str,
) -> Result<sharecard_render::card::TemplateName, String> {
    sharecard_render::card::TemplateName::parse(name)
        .filter(|t| renderer.templates().info(t.as_str()).is_some())
        .ok_or_else(|| {
            let names: Vec<&str> = renderer
                .templates()
                .infos()
                .map(|t| t.name.as_str())
                .collect();
            format!(
                "no template named {name:?}; the templates are {}",
                names.join(", ")
            )
        })
}

pub use check::check;
pub use render::render;
pub use sign::sign;
pub use warm::warm;
