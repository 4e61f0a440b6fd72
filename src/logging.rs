//! The tracing subscriber: `CARRY_LOG` wins, else `-v`/`-q` pick the level; logs go to stderr.

use tracing_subscriber::EnvFilter;

use crate::cli::ColorWhen;
use crate::cli::GlobalArgs;

pub(crate) fn init(global: &GlobalArgs) {
    let choice = match global.color {
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
        ColorWhen::Auto => anstream::ColorChoice::Auto,
    };
    choice.write_global();
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "carry=debug,carry_orchestrator=debug,carry_adapters=debug,carry_graph=debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("CARRY_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = !matches!(
        anstream::ColorChoice::global(),
        anstream::ColorChoice::Never
    ) && anstream::AutoStream::choice(&std::io::stderr())
        != anstream::ColorChoice::Never;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .try_init();
}
