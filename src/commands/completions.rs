//! `carry completions SHELL` and `carry man [DIR]`: both made from the clap definitions, so
//! they never fall behind the commands.

use clap::CommandFactory as _;

use crate::cli::Cli;
use crate::cli::CompletionsArgs;
use crate::cli::ManArgs;
use crate::error::CliError;
use crate::error::Outcome;

pub(crate) fn completions(args: &CompletionsArgs) -> Result<Outcome, CliError> {
    use std::io::Write as _;

    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "carry", &mut script);
    std::io::stdout()
        .write_all(&script)
        .map_err(|e| CliError::failure(format!("cannot write the completions: {e}")))?;
    Ok(Outcome::Clean)
}

pub(crate) fn man(args: &ManArgs) -> Result<Outcome, CliError> {
    let failed = |e: std::io::Error| {
        CliError::failure(format!(
            "cannot write man pages into {}: {e}",
            args.out.display()
        ))
    };
    std::fs::create_dir_all(&args.out).map_err(failed)?;
    let command = Cli::command();
    // carry.1, then carry-<command>.1 for each command (and each nested one).
    clap_mangen::generate_to(command, &args.out).map_err(failed)?;
    let mut written: Vec<String> = std::fs::read_dir(&args.out)
        .map_err(failed)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".1"))
        .collect();
    written.sort();
    anstream::eprintln!(
        "wrote {} man pages into {}: {}",
        written.len(),
        args.out.display(),
        written.join(", ")
    );
    Ok(Outcome::Clean)
}
