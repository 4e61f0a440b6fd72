//! The `carry` command: parse arguments, run the command, turn errors into exit codes.

#![forbid(unsafe_code)]

mod cli;
mod commands;
mod demo;
mod error;
mod logging;
mod progress;
mod render;
mod report_junit;
mod report_markdown;
mod report_text;
mod serve;
mod signals;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::parse();
    logging::init(&cli.global);
    match commands::run(&cli) {
        Ok(code) => code.into(),
        Err(error) => error.report(&cli.global),
    }
}
