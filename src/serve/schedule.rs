//! The built-in nightly: a cron schedule (UTC) that starts a run on time, and one run at start
//! when the last scheduled time passed while the service was down.

use std::str::FromStr;

use chrono::DateTime;
use chrono::Utc;

use super::AppState;
use super::runs::StartRequest;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    cron: cron::Schedule,
    text: String,
}

impl FromStr for Schedule {
    type Err = String;

    /// Five fields as in crontab (`0 2 * * *`), or six with seconds first.
    fn from_str(text: &str) -> Result<Self, String> {
        let fields = text.split_whitespace().count();
        let full = match fields {
            5 => format!("0 {text}"),
            6 | 7 => text.to_owned(),
            _ => {
                return Err(format!(
                    "'{text}' is not a cron schedule: expected 5 fields (minute hour day month weekday)"
                ));
            }
        };
        let cron = cron::Schedule::from_str(&full)
            .map_err(|e| format!("'{text}' is not a cron schedule: {e}"))?;
        Ok(Self {
            cron,
            text: text.to_owned(),
        })
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (UTC)", self.text)
    }
}

impl Schedule {
    /// The next time after `now`.
    pub(crate) fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.after(&now).next()
    }

    /// The latest scheduled time at or before `now`, looking back up to 400 days.
    pub(crate) fn last_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = now - chrono::Duration::days(400);
        self.cron.after(&start).take_while(|t| *t <= now).last()
    }
}

/// Runs the schedule forever: a missed run first, then each scheduled time.
pub(crate) async fn drive(state: AppState, schedule: Schedule) {
    let last_run_start = super::api::blocking({
        let state = state.clone();
        move || {
            let workspace = super::api::load(&state)?;
            let history = carry_orchestrator::history::History::open(&workspace)
                .map_err(super::error::ApiError::internal)?;
            Ok(history
                .runs(1)
                .map_err(super::error::ApiError::internal)?
                .into_iter()
                .next()
                .map(|r| r.started_at))
        }
    })
    .await
    .ok()
    .flatten()
    .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
    .map(|at| at.with_timezone(&Utc));
    if let Some(missed) = schedule.last_before(Utc::now())
        && last_run_start.is_none_or(|started| started < missed)
    {
        tracing::info!(%missed, "the scheduled run was missed while the service was down; running now");
        start(&state).await;
    }
    loop {
        let Some(next) = schedule.next_after(Utc::now()) else {
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        start(&state).await;
    }
}

/// Each project's furthest safe point, as the schedule last computed it.
#[derive(Debug, Clone)]
pub(crate) struct FurthestSnapshot {
    /// When (RFC 3339).
    pub(crate) computed_at: String,
    /// Each project with an upstream past its base: the answer, or why there is none.
    pub(crate) projects: Vec<(
        String,
        Result<carry_orchestrator::furthest::Furthest, String>,
    )>,
}

/// Computes every project's furthest safe point (trials in memory, nothing written) and keeps
/// it for the dashboard.
pub(crate) async fn compute_furthest(state: &AppState) {
    let computed = super::api::blocking({
        let state = state.clone();
        move || {
            let workspace = super::api::load(&state)?;
            let mut projects = Vec::new();
            for name in workspace.manifest.workspace.projects.keys() {
                let answer = carry_orchestrator::furthest::furthest(&workspace, name, None)
                    .map_err(|e| e.to_string());
                projects.push((name.to_string(), answer));
            }
            Ok(FurthestSnapshot {
                computed_at: carry_adapters::store::now(),
                projects,
            })
        }
    })
    .await;
    match computed {
        Ok(snapshot) => {
            if let Ok(mut slot) = state.furthest.lock() {
                *slot = Some(snapshot);
            }
        }
        Err(error) => tracing::warn!(?error, "cannot compute how far each upstream can move"),
    }
}

async fn start(state: &AppState) {
    // How far each upstream can move, from the refs as last fetched, before the night's run.
    compute_furthest(state).await;
    match super::runs::start_run(state, StartRequest::default()).await {
        Ok(id) => tracing::info!(run = %id, "scheduled run started"),
        Err(error) => tracing::warn!(?error, "the scheduled run could not start"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_schedules_fire_as_crontab_says() {
        let schedule: Schedule = "0 2 * * *".parse().expect("parses");
        let now = DateTime::parse_from_rfc3339("2026-11-23T03:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(
            schedule.next_after(now).map(|t| t.to_rfc3339()),
            Some("2026-11-24T02:00:00+00:00".to_owned())
        );
        assert_eq!(
            schedule.last_before(now).map(|t| t.to_rfc3339()),
            Some("2026-11-23T02:00:00+00:00".to_owned())
        );
        assert!("every night".parse::<Schedule>().is_err());
    }
}
