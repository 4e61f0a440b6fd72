//! `carry demo [DIR]`: build the built-in NFV example workspace and run it.

use carry_orchestrator::run::RunOptions;

use crate::cli::DemoArgs;
use crate::cli::GlobalArgs;
use crate::error::CliError;
use crate::error::ErrorKind;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &DemoArgs) -> Result<Outcome, CliError> {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("carry-demo-{}", std::process::id())),
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    if !global.quiet {
        anstream::eprintln!("building the NFV demo workspace in {}", dir.display());
    }
    crate::demo::build(&dir).map_err(|e| CliError::new(ErrorKind::Failure, e))?;
    if args.no_run {
        anstream::println!("{}", dir.display());
        return Ok(Outcome::Clean);
    }
    let workspace = carry_orchestrator::workspace::load(&dir)?;
    let options = RunOptions {
        jobs: 2,
        ..RunOptions::default()
    };
    let report = super::run::execute(global, &workspace, &options)?;
    super::run::print_report(&report, args.json, false)?;
    if !args.json && !global.quiet {
        anstream::println!(
            "\nThe workspace is in {dir}. Look around with:\n  carry -C {dir} report --markdown\n  carry -C {dir} order\n  carry -C {dir} impact qemu\n  git -C {dir}/repos/libvirt log --oneline --graph nfv/carried refs/carry/candidate/libvirt",
            dir = dir.display()
        );
    }
    // The demo is meant to need attention (a conflict blocks the SR-IOV feature); it succeeded
    // if it ran.
    Ok(Outcome::Clean)
}
