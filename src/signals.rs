//! Ctrl-c and SIGTERM for a command that runs tests: the first asks the run to stop (its
//! tests get SIGTERM at once, SIGKILL a few seconds later; the run is recorded as
//! interrupted and the next one resumes it); a second ends carry at once, the run left for
//! the next one to resume all the same.

use carry_orchestrator::options::Cancel;

/// A [`Cancel`] the first ctrl-c or SIGTERM cancels, from now on.
pub(crate) fn cancel_on_signals(quiet: bool) -> Cancel {
    let cancel = Cancel::new();
    let cancelled = cancel.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build();
    let Ok(runtime) = runtime else {
        // Without a handler the signals keep their default: carry dies, the next run resumes.
        return cancel;
    };
    // Handlers are installed here, before the run starts, so no signal falls between.
    let signals = runtime.block_on(async {
        use tokio::signal::unix::SignalKind;
        use tokio::signal::unix::signal;
        Some((
            signal(SignalKind::interrupt()).ok()?,
            signal(SignalKind::terminate()).ok()?,
        ))
    });
    let Some((mut interrupt, mut terminate)) = signals else {
        return cancel;
    };
    let spawned = std::thread::Builder::new()
        .name("carry-signals".to_owned())
        .spawn(move || {
            runtime.block_on(async {
                let mut seen = 0;
                loop {
                    tokio::select! {
                        _ = interrupt.recv() => {},
                        _ = terminate.recv() => {},
                    }
                    seen += 1;
                    if seen > 1 {
                        anstream::eprintln!("carry: stopped; the next run resumes this one");
                        std::process::exit(130);
                    }
                    if !quiet {
                        anstream::eprintln!(
                            "carry: stopping: ending the tests and recording the run as interrupted (again to stop at once)"
                        );
                    }
                    cancelled.cancel();
                }
            });
        });
    if spawned.is_err() {
        tracing::warn!("no thread for signals: ctrl-c and SIGTERM will not stop this run");
    }
    cancel
}
