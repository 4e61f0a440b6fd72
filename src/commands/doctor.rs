//! `carry doctor`: a workspace's state checked, each problem with what to do.

use carry_orchestrator::doctor::Severity;

use crate::cli::DoctorArgs;
use crate::cli::GlobalArgs;
use crate::error::CliError;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &DoctorArgs) -> Result<Outcome, CliError> {
    // The root only: the doctor must work when the manifest does not parse, and must not
    // finish a half-done promotion (loading does) before saying there was one.
    let root = carry_orchestrator::workspace::find_root(&super::start_dir(global))?;
    let report = carry_orchestrator::doctor::examine(&root);
    if args.json {
        super::print_json(&report)?;
    } else {
        let mut text = format!("carry doctor: {}\n", report.workspace);
        for finding in &report.findings {
            text.push_str(&format!(
                "  {:<8} {:<10} {}\n",
                finding.severity.as_str(),
                finding.check,
                finding.summary
            ));
            if let Some(fix) = &finding.fix {
                text.push_str(&format!("  {:<8} {:<10} what to do: {fix}\n", "", ""));
            }
        }
        anstream::print!("{text}");
    }
    Ok(match report.worst() {
        Severity::Ok | Severity::Warning => Outcome::Clean,
        Severity::Problem => Outcome::Attention,
    })
}
