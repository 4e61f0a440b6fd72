//! `carry serve`: the HTTP service and dashboard.

use std::io::Read as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::sync::Arc;

use crate::cli::GlobalArgs;
use crate::cli::ServeArgs;
use crate::error::CliError;
use crate::error::ErrorKind;
use crate::error::Outcome;
use crate::serve::AppState;
use crate::serve::RunRegistry;
use crate::serve::Schedule;

pub(crate) fn run(global: &GlobalArgs, args: &ServeArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let address: SocketAddr = args.bind.parse().map_err(|e| {
        CliError::usage(format!(
            "--bind {}: {e}; give an address like 127.0.0.1:7878",
            args.bind
        ))
    })?;
    let chosen_token = std::env::var("CARRY_TOKEN").ok().filter(|t| !t.is_empty());
    if !address.ip().is_loopback() && chosen_token.is_none() {
        return Err(CliError::usage(format!(
            "refusing to listen on {address} without CARRY_TOKEN"
        ))
        .with_hint("set CARRY_TOKEN to a long random secret, or bind to 127.0.0.1"));
    }
    let schedule = match &args.schedule {
        Some(text) => Some(text.parse::<Schedule>().map_err(CliError::usage)?),
        None => None,
    };
    let token = match chosen_token {
        Some(token) => token,
        None => {
            token_file(&workspace.state_dir()).map_err(|e| CliError::new(ErrorKind::Failure, e))?
        }
    };
    let state = AppState {
        root: workspace.root.clone(),
        token: Arc::new(token),
        hook_secret: std::env::var("CARRY_HOOK_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .map(Arc::new),
        runs: RunRegistry::default(),
        cache: Arc::default(),
        pushed: Arc::default(),
        allowed_hosts: Arc::new(crate::serve::allowed_hosts_from_env()),
        metrics: crate::serve::Metrics::default(),
        furthest: Arc::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(ErrorKind::Failure, e))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| CliError::failure(format!("cannot listen on {address}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| CliError::new(ErrorKind::Failure, e))?;
        if !global.quiet {
            anstream::eprintln!(
                "carry serve: http://{bound}/ (workspace {})",
                workspace.root.display()
            );
            if let Some(schedule) = &schedule {
                anstream::eprintln!("nightly schedule: {schedule}");
            }
        }
        // A run interrupted by the last shutdown resumes now.
        if resume_needed(&workspace) {
            let _ = crate::serve::runs_start(&state).await;
        }
        if let Some(schedule) = schedule {
            tokio::spawn(crate::serve::drive_schedule(state.clone(), schedule));
        }
        let runs = state.runs.clone();
        let stopping = runs.clone();
        let limits = crate::serve::server::Limits {
            max_connections: connection_limit(
                usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            ),
            ..crate::serve::server::Limits::default()
        };
        let app = crate::serve::router_with_timeout(
            state,
            std::time::Duration::from_secs(args.request_timeout),
        );
        crate::serve::server::serve(listener, app, limits, async move {
            shutdown().await;
            // The run going on stops now (its tests get SIGTERM at once), while open
            // requests finish.
            stopping.cancel();
        })
        .await;
        // Let the run record where it is; the next start resumes it.
        runs.stop().await;
        Ok::<_, CliError>(())
    })?;
    Ok(Outcome::Clean)
}

/// File descriptors kept for everything but client connections (the store, git, logs, test
/// pipes).
const RESERVED_DESCRIPTORS: u64 = 256;

/// The connection limit the process can honour: the open-file limit is raised to its hard
/// ceiling (the soft default, often 1024, would run out first), and the limit kept under it.
fn connection_limit(asked: usize) -> usize {
    use nix::sys::resource::Resource;
    use nix::sys::resource::getrlimit;
    use nix::sys::resource::setrlimit;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return asked;
    };
    let available = if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    let room = usize::try_from(available.saturating_sub(RESERVED_DESCRIPTORS).max(16))
        .unwrap_or(usize::MAX);
    if asked > room {
        tracing::warn!(
            asked,
            allowed = room,
            "--max-connections is above what the open-file limit allows; using the lower"
        );
    }
    asked.min(room)
}

fn resume_needed(workspace: &carry_orchestrator::workspace::LoadedWorkspace) -> bool {
    carry_orchestrator::history::History::open(workspace)
        .and_then(|history| history.resume_pending())
        .unwrap_or(false)
}

async fn shutdown() {
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// The token in `.carry/token`, made (mode 0600) on first start.
fn token_file(state_dir: &std::path::Path) -> std::io::Result<String> {
    let path = state_dir.join("token");
    if let Ok(mut file) = std::fs::File::open(&path) {
        let mut token = String::new();
        file.read_to_string(&mut token)?;
        let token = token.trim().to_owned();
        if !token.is_empty() {
            return Ok(token);
        }
    }
    std::fs::create_dir_all(state_dir)?;
    let mut random = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut random)?;
    let token = crate::serve::hex(&random);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(token.as_bytes())?;
    file.sync_all()?;
    Ok(token)
}
