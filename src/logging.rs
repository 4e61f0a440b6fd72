//! The tracing subscriber: `CARRY_LOG` wins, else `-v`/`-q` pick the level; logs go to stderr,
//! every line with the userinfo of its URLs redacted (a token in an upstream URL never
//! reaches a log, whatever logged it).

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
        .with_writer(|| RedactingStderr)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Standard error, with URLs' userinfo redacted. The fmt layer writes each event whole in
/// one call, so a URL is never split between two writes.
struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buffer);
        let redacted = carry_graph::redact::urls_in_text(&text);
        std::io::stderr().write_all(redacted.as_bytes())?;
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
