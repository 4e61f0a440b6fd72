//! The command line, declared with clap's derive.

use std::path::PathBuf;

use clap::Args;
use clap::Parser;
use clap::Subcommand;
use clap::ValueEnum;

/// Keep downstream patch series alive on top of moving upstream projects
#[derive(Debug, Parser)]
#[command(name = "carry", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Run as if carry was started in DIR
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub(crate) directory: Option<PathBuf>,
    /// More detail on stderr (-v debug, -vv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub(crate) verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    /// When to use colour
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub(crate) color: ColorWhen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check the manifest and every series; print every problem
    Validate(ValidateArgs),
    /// Show the workspace graph: projects, consumes, features and their patches
    Graph(GraphArgs),
    /// Print the safe order to rebase and test, as stages
    Order(OrderArgs),
    /// Show what breaks if a project's upstream moves
    Impact(ImpactArgs),
    /// Bring upstream refs and tags into the project repositories
    Fetch(FetchArgs),
    /// Rebase every series whose upstream moved, test in order, and report
    Run(RunArgs),
    /// Print a stored run's report
    Report(ReportArgs),
    /// List every carried patch with its age, upstream state and deadline, overdue first
    Debt(DebtArgs),
    /// Move series to a run's results, atomically, dropping landed patches
    Promote(PromoteArgs),
    /// Start a workspace from repositories you have: find each one's upstream, base and carried commits, and write a commented carry.toml
    Init(InitArgs),
    /// Build the built-in NFV example workspace and run it
    Demo(DemoArgs),
    /// Serve the HTTP API and dashboard, with an optional nightly schedule
    Serve(ServeArgs),
    /// List the open conflicts of the last run: key, patch and author, culprit and author, paths, since when
    Conflicts(ConflictsArgs),
    /// Resolve a patch's conflict by hand in a worktree, once: --continue records it, --abort, --skip, --drop
    Resolve(ResolveArgs),
    /// What each patch of the last run became (unchanged, moved or modified, with the interdiff), and acknowledge re-applied resolutions
    Review(ReviewArgs),
    /// Move recorded resolutions (with their reviews and dropped patches) between workspaces
    #[command(subcommand)]
    Resolutions(ResolutionsCommand),
    /// Check a workspace's state (store, lock, leftover processes, refs, a half-done promotion) and say what to do
    Doctor(DoctorArgs),
    /// Print shell completions for bash, zsh, fish, elvish or PowerShell
    Completions(CompletionsArgs),
    /// Write man pages (carry.1 and one per command) into a directory
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ConflictsArgs {
    /// Print the conflicts as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("action").args(["abort", "continue_", "skip", "drop"]))]
pub(crate) struct ResolveArgs {
    /// The patch in conflict, as PROJECT/PATCH or its conflict key (`carry conflicts` lists them); with --continue, --abort or --skip, the one resolve going on when left out
    #[arg(value_name = "PROJECT/PATCH")]
    pub(crate) patch: Option<String>,
    /// Drop the resolve: its worktree and notes go, nothing else changes
    #[arg(long)]
    pub(crate) abort: bool,
    /// Record the resolution made in the worktree (no markers may remain), then run the project again, and what depends on it, with it
    #[arg(long = "continue", id = "continue_")]
    pub(crate) continue_: bool,
    /// Leave this patch in conflict (its resolve, if any, is dropped) and start resolving the next open conflict
    #[arg(long)]
    pub(crate) skip: bool,
    /// Drop the patch from the candidate (recorded with --reason; `promote` removes it from the series), then run again without it
    #[arg(long, requires = "reason")]
    pub(crate) drop: bool,
    /// Why the patch is dropped (with --drop)
    #[arg(long, value_name = "TEXT", requires = "drop")]
    pub(crate) reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ResolutionsCommand {
    /// Write every recorded resolution, review and dropped patch to FILE (`-`: standard output)
    Export {
        /// The file to write
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
    /// Record what FILE (from `carry resolutions export`) holds that this workspace lacks; with --refs, what the project repositories' refs/carry/resolutions/ hold (fetched from a team's remote)
    Import {
        /// The file to read (`-`: standard input)
        #[arg(
            value_name = "FILE",
            required_unless_present = "refs",
            conflicts_with = "refs"
        )]
        file: Option<std::path::PathBuf>,
        /// Read refs/carry/resolutions/* of every project's repository instead of a file
        #[arg(long)]
        refs: bool,
        /// Print what was imported as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ReviewArgs {
    /// A project, or one patch as PROJECT/PATCH (every patch of the last run when left out)
    #[arg(value_name = "PROJECT[/PATCH]")]
    pub(crate) scope: Option<String>,
    /// Record that you looked at the resolution PROJECT/PATCH was applied with (promotion refuses one nobody acknowledged)
    #[arg(long, value_name = "PROJECT/PATCH", conflicts_with = "scope")]
    pub(crate) ack: Option<String>,
    /// Print the review as JSON
    #[arg(long, conflicts_with = "markdown")]
    pub(crate) json: bool,
    /// Print the review as Markdown (for a merge request)
    #[arg(long)]
    pub(crate) markdown: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Where to write them (created if missing)
    #[arg(value_name = "DIR", default_value = "man")]
    pub(crate) out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Print the findings as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// Only these projects (all when none)
    #[arg(value_name = "PROJECT")]
    pub(crate) projects: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Only these projects and what depends on them (all when none)
    #[arg(value_name = "PROJECT")]
    pub(crate) projects: Vec<String>,
    /// Redo every selected project, moved or not
    #[arg(long)]
    pub(crate) all: bool,
    /// Rebase only; do not run tests
    #[arg(long)]
    pub(crate) no_test: bool,
    /// Print the plan (which projects, in which stages, why) and change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Run up to N tests of one stage side by side
    #[arg(long, short = 'j', value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) jobs: u16,
    /// Use upstream refs as last fetched; do not fetch
    #[arg(long)]
    pub(crate) offline: bool,
    /// Redo every step, reusing no result recorded for the same inputs
    #[arg(long)]
    pub(crate) fresh: bool,
    /// Print the report as JSON (schema carry.run/v1)
    #[arg(long, conflicts_with = "markdown")]
    pub(crate) json: bool,
    /// Print the report as Markdown, for a tracker
    #[arg(long)]
    pub(crate) markdown: bool,
    /// Also write the report as JUnit XML to FILE, for a CI system to show
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The run (default: the last one)
    pub(crate) run: Option<String>,
    /// Print JSON (schema carry.run/v1)
    #[arg(long, conflicts_with = "markdown")]
    pub(crate) json: bool,
    /// Print Markdown
    #[arg(long)]
    pub(crate) markdown: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PromoteArgs {
    /// The run (default: the last one) and then the projects (default: every clean one)
    #[arg(value_name = "RUN_OR_PROJECT")]
    pub(crate) args: Vec<String>,
    /// Every project with a patch in this feature, together or none
    #[arg(long, value_name = "F")]
    pub(crate) feature: Option<String>,
    /// Promote projects whose run was not clean too
    #[arg(long)]
    pub(crate) force: bool,
    /// Give up the steps a cut-short promotion could not finish (and promote nothing)
    #[arg(long, conflicts_with_all = ["args", "feature", "force"])]
    pub(crate) abandon: bool,
    /// Print JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DebtArgs {
    /// Print JSON (schema carry.debt/v1)
    #[arg(long, conflicts_with = "markdown")]
    pub(crate) json: bool,
    /// Print Markdown
    #[arg(long)]
    pub(crate) markdown: bool,
    /// Exit 3 when any patch is overdue
    #[arg(long)]
    pub(crate) strict: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (non-loopback addresses need CARRY_TOKEN)
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
    pub(crate) bind: String,
    /// Start a run on this cron schedule (UTC), such as "0 2 * * *"
    #[arg(long, value_name = "CRON")]
    pub(crate) schedule: Option<String>,
    /// Open connections at most; at the limit the longest idle one is closed for a new one
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub(crate) max_connections: u32,
    /// Seconds a request may take before the service answers 408/503 for it (event streams excepted)
    #[arg(long, default_value_t = crate::serve::REQUEST_TIMEOUT.as_secs(), value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) request_timeout: u64,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The workspace directory (default: the current one)
    #[arg(value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// A repository whose current branch carries patches (repeat for each; relative to DIR)
    #[arg(long = "repo", value_name = "PATH", required = true)]
    pub(crate) repos: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where to build the example workspace (default: a new directory under the system's temp dir)
    pub(crate) dir: Option<PathBuf>,
    /// Print the report as JSON
    #[arg(long)]
    pub(crate) json: bool,
    /// Build the workspace only; do not run it
    #[arg(long)]
    pub(crate) no_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Print the problems as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct GraphArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub(crate) format: GraphFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GraphFormat {
    Text,
    Dot,
    Mermaid,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct OrderArgs {
    /// Keep only this moved project and what transitively consumes it (repeatable)
    #[arg(long, value_name = "PROJECT")]
    pub(crate) moved: Vec<String>,
    /// Print `{"stages": [[…], …]}`
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ImpactArgs {
    /// The project whose upstream moves (left out with --to PROJECT=REF)
    pub(crate) project: Option<String>,
    /// Trial-rebase the series onto REF (any ref or commit the repository has) and say what
    /// would apply, land, conflict or be blocked; records nothing. Several moves at once:
    /// --to qemu=v10.0.0 --to libvirt=v11.0.0, tried together in graph order
    #[arg(long, value_name = "REF|PROJECT=REF", conflicts_with = "furthest")]
    pub(crate) to: Vec<String>,
    /// Find the newest upstream point the project can move to with every patch applied or
    /// landed and nothing blocked (trial rebases and bisection; records nothing)
    #[arg(long)]
    pub(crate) furthest: bool,
    /// With --furthest: search the upstream tags matching GLOB, in version order, instead of
    /// every commit of the first-parent line
    #[arg(long, value_name = "GLOB", requires = "furthest")]
    pub(crate) tags: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn parse() -> Cli {
    Cli::parse()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
