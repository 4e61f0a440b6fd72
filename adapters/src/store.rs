//! The workspace's embedded store, `.carry/carry.db` (SQLite).
//!
//! One typed API over the tables: runs and their reports, a journal of each run's steps,
//! per-project and per-patch outcomes, upstream positions, the upstream commit cache
//! (paths, Change-Ids, patch-ids), and content-addressed results (a rebase or a test done once
//! for the same inputs is reused, which is what lets a killed run resume cheaply). SQL stays in
//! this module. The schema is versioned (`PRAGMA user_version`) and migrated forward on open.

use std::path::Path;
use std::path::PathBuf;

use rusqlite::Connection;
use rusqlite::OptionalExtension;
use rusqlite::params;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

mod resolutions;

pub use resolutions::DroppedPatch;
pub use resolutions::ResolutionReview;

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("the store at {} failed while {action}", path.display())]
    Sql {
        /// The database file.
        path: PathBuf,
        /// What carry was doing.
        action: &'static str,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored value does not decode (a newer carry wrote it, or it was edited by hand).
    #[error("the store holds a value carry cannot read ({what})")]
    Decode {
        /// Which value.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The database is newer than this carry.
    #[error("the store has schema version {found}; this carry knows up to {known}; upgrade carry")]
    TooNew {
        /// The database's version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
}

impl StoreError {
    /// Whether SQLite says the database file is damaged (or is not a database at all): no
    /// retry helps; `carry doctor` says what to do.
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            Self::Sql {
                source: rusqlite::Error::SqliteFailure(failure, _),
                ..
            } if matches!(
                failure.code,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
            )
        )
    }
}

/// Whether `error` (one link of an error chain) says a store is damaged: a [`StoreError`]
/// that [is corrupt](StoreError::is_corrupt), or SQLite's own error under a transparent
/// wrapper.
pub fn is_damaged_store_error(error: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(store) = error.downcast_ref::<StoreError>() {
        return store.is_corrupt();
    }
    matches!(
        error.downcast_ref::<rusqlite::Error>(),
        Some(rusqlite::Error::SqliteFailure(failure, _)) if matches!(
            failure.code,
            rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
        )
    )
}

/// What `carry doctor` learns of a store without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreHealth {
    /// No `carry.db` yet (no run has been made).
    Missing,
    /// It opens, its pages are sound.
    Sound {
        /// Its schema version.
        version: i64,
        /// The newest this build knows (a smaller `version` is migrated by the next command).
        known: i64,
        /// How many runs it records.
        runs: i64,
    },
    /// It is newer than this build.
    TooNew {
        /// Its schema version.
        version: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// SQLite finds it damaged, or cannot read it: what it says.
    Damaged(String),
}

/// Examines the store in `state_dir` read-only: opens it, reads its version, and runs
/// SQLite's `quick_check` over every page.
pub fn inspect(state_dir: &Path) -> StoreHealth {
    let path = state_dir.join("carry.db");
    if !path.exists() {
        return StoreHealth::Missing;
    }
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let examine = || -> Result<StoreHealth, rusqlite::Error> {
        let connection =
            Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if version > known {
            return Ok(StoreHealth::TooNew { version, known });
        }
        let mut check = connection.prepare("PRAGMA quick_check")?;
        let problems: Vec<String> = check
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        if problems != ["ok"] {
            return Ok(StoreHealth::Damaged(problems.join("; ")));
        }
        let runs = if version >= 1 {
            connection.query_row("SELECT count(*) FROM runs", [], |row| row.get(0))?
        } else {
            0
        };
        Ok(StoreHealth::Sound {
            version,
            known,
            runs,
        })
    };
    examine().unwrap_or_else(|error| StoreHealth::Damaged(error.to_string()))
}

/// Each migration takes the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: runs, journal, outcomes, positions, caches, results.
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,
        pid INTEGER NOT NULL,
        options TEXT NOT NULL,
        resumed_from TEXT,
        report TEXT
     );
     CREATE TABLE journal (
        run TEXT NOT NULL REFERENCES runs(id),
        seq INTEGER NOT NULL,
        step TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (run, seq)
     );
     CREATE TABLE project_outcomes (
        run TEXT NOT NULL REFERENCES runs(id),
        project TEXT NOT NULL,
        status TEXT NOT NULL,
        upstream_from TEXT,
        upstream_to TEXT,
        result TEXT,
        test_status TEXT NOT NULL,
        PRIMARY KEY (run, project)
     );
     CREATE TABLE patch_outcomes (
        run TEXT NOT NULL REFERENCES runs(id),
        patch TEXT NOT NULL,
        outcome TEXT NOT NULL,
        upstream_commit TEXT,
        matched_by TEXT,
        PRIMARY KEY (run, patch)
     );
     CREATE TABLE patch_first_seen (
        patch TEXT PRIMARY KEY,
        run TEXT NOT NULL,
        at TEXT NOT NULL
     );
     CREATE TABLE upstream_positions (
        project TEXT PRIMARY KEY,
        reference TEXT NOT NULL,
        oid TEXT NOT NULL,
        run TEXT NOT NULL
     );
     CREATE TABLE upstream_cache (
        project TEXT PRIMARY KEY,
        data BLOB NOT NULL
     );
     CREATE TABLE rebase_results (
        key TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        run TEXT NOT NULL,
        data BLOB NOT NULL
     );
     CREATE TABLE test_results (
        key TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        run TEXT NOT NULL,
        data BLOB NOT NULL
     );",
    // 2: what promotions did, and the landed patches they dropped.
    "CREATE TABLE promotions (
        id TEXT PRIMARY KEY,
        run TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,
        plan TEXT NOT NULL
     );
     CREATE TABLE landed_patches (
        project TEXT NOT NULL,
        patch TEXT NOT NULL,
        subject TEXT NOT NULL,
        upstream_commit TEXT,
        matched_by TEXT NOT NULL,
        run TEXT NOT NULL,
        dropped_at TEXT NOT NULL,
        PRIMARY KEY (project, patch, run)
     );",
    // 3: the series each project carried when it was last clean, to tell a changed series
    // from an unchanged one when upstream did not move.
    "CREATE TABLE series_seen (
        project TEXT PRIMARY KEY,
        identity TEXT NOT NULL,
        run TEXT NOT NULL
     );",
    // 4: upstream positions are read from git and the reports (series_seen answers what they
    // were kept for); nothing read this table.
    "DROP TABLE upstream_positions;",
    // 5: each run's report holds its projects' outcomes; nothing read this copy of them.
    "DROP TABLE project_outcomes;",
    // 6: conflict resolutions a human recorded, one row a conflict region, keyed by the
    // region's three images so a later merge meeting the same region finds it.
    "CREATE TABLE resolutions (
        project TEXT NOT NULL,
        patch TEXT NOT NULL,
        path TEXT NOT NULL,
        upstream BLOB NOT NULL,
        base BLOB NOT NULL,
        patch_side BLOB NOT NULL,
        resolved BLOB NOT NULL,
        conflict_key TEXT NOT NULL,
        run TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (project, patch, path, upstream, base, patch_side)
     );",
    // 7: a resolution has an id and is tied to the patch's normalized diff and the upstream
    // it was made on; reviews of re-applied resolutions and patches dropped by a human.
    "ALTER TABLE resolutions ADD COLUMN resolution_id TEXT;
     ALTER TABLE resolutions ADD COLUMN patch_id TEXT;
     ALTER TABLE resolutions ADD COLUMN onto TEXT;
     CREATE TABLE resolution_reviews (
        project TEXT NOT NULL,
        patch TEXT NOT NULL,
        resolution_id TEXT NOT NULL,
        onto TEXT NOT NULL,
        acked_by TEXT NOT NULL,
        forced INTEGER NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (project, patch, resolution_id, onto)
     );
     CREATE TABLE dropped_patches (
        project TEXT NOT NULL,
        patch TEXT NOT NULL,
        patch_id TEXT,
        reason TEXT NOT NULL,
        run TEXT NOT NULL,
        dropped_at TEXT NOT NULL,
        PRIMARY KEY (project, patch)
     );",
];

/// A step of a run, as its journal keeps it: what a killed run had finished, which the next
/// run reuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An upstream was fetched.
    Fetched,
    /// An upstream could not be fetched.
    FetchFailed,
    /// A series was rebased.
    Rebased,
    /// A series' earlier rebase was reused.
    ReusedRebase,
    /// A test ran.
    Tested,
    /// A test's earlier result was reused.
    ReusedTest,
}

impl Step {
    /// Its name in the journal and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fetched => "fetched",
            Self::FetchFailed => "fetch-failed",
            Self::Rebased => "rebased",
            Self::ReusedRebase => "reused-rebase",
            Self::Tested => "tested",
            Self::ReusedTest => "reused-test",
        }
    }
}

/// A run as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    /// Its id.
    pub id: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it finished, if it did.
    pub finished_at: Option<String>,
    /// Where it is.
    pub status: RunState,
    /// The process that ran it.
    pub pid: u32,
    /// The run it resumed, if any.
    pub resumed_from: Option<String>,
}

/// Where a run is, as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// Going on (or its process died, until the next run notices).
    Running,
    /// Finished, nothing needs attention.
    Clean,
    /// Finished, something needs attention.
    Attention,
    /// carry could not do its job.
    Failed,
    /// Killed or stopped part way; the next run resumes it.
    Interrupted,
}

impl RunState {
    /// Its name in the store and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Clean => "clean",
            Self::Attention => "attention",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Clean,
            Self::Attention,
            Self::Failed,
            Self::Interrupted,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// The store of one workspace.
pub struct Store {
    connection: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The current time, RFC 3339 in UTC.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl Store {
    /// Opens (creating and migrating as needed) the store in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let path = state_dir.join("carry.db");
        let sql = |action| {
            let path = path.clone();
            move |source| StoreError::Sql {
                path,
                action,
                source,
            }
        };
        std::fs::create_dir_all(state_dir).map_err(|e| StoreError::Sql {
            path: path.clone(),
            action: "creating the state directory",
            source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
        })?;
        let mut connection = Connection::open(&path).map_err(sql("opening"))?;
        // WAL: readers (the dashboard, `carry report`) never block the run that writes.
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(sql("setting the journal mode"))?;
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql("setting synchronous"))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql("setting the busy timeout"))?;
        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(sql("reading the schema version"))?;
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        for (index, migration) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            let transaction = connection.transaction().map_err(sql("migrating"))?;
            transaction
                .execute_batch(migration)
                .map_err(sql("migrating"))?;
            transaction
                .pragma_update(None, "user_version", index + 1)
                .map_err(sql("migrating"))?;
            transaction.commit().map_err(sql("migrating"))?;
        }
        Ok(Self { connection, path })
    }

    fn sql(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sql {
            path: self.path.clone(),
            action,
            source,
        }
    }

    /// The schema version in use.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(self.sql("reading the schema version"))
    }

    /// Marks every run still `running` as `interrupted` (call with the workspace lock held:
    /// no live process owns them); returns the interrupted runs a new run takes over (those
    /// since the last run that finished, not resumed yet), newest first.
    pub fn interrupt_dead_runs(&self) -> Result<Vec<String>, StoreError> {
        self.connection
            .execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?1 WHERE status = 'running'",
                params![now()],
            )
            .map_err(self.sql("marking runs interrupted"))?;
        // Interrupted (dead, or stopped by a signal) after the last run that finished, and
        // not resumed yet.
        let mut statement = self
            .connection
            .prepare(
                "SELECT id FROM runs AS r WHERE status = 'interrupted'
                   AND NOT EXISTS (SELECT 1 FROM runs WHERE resumed_from = r.id)
                   AND NOT EXISTS (SELECT 1 FROM runs AS f
                                   WHERE f.status NOT IN ('interrupted', 'running')
                                     AND (f.started_at, f.rowid) > (r.started_at, r.rowid))
                 ORDER BY started_at DESC, rowid DESC",
            )
            .map_err(self.sql("finding interrupted runs"))?;
        let ids: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .map_err(self.sql("finding interrupted runs"))?
            .collect::<Result<_, _>>()
            .map_err(self.sql("finding interrupted runs"))?;
        Ok(ids)
    }

    /// Records a new run as `running`.
    pub fn start_run(
        &self,
        id: &str,
        options: &impl Serialize,
        resumed_from: Option<&str>,
    ) -> Result<(), StoreError> {
        let options = serde_json::to_string(options).map_err(|source| StoreError::Decode {
            what: "run options",
            source,
        })?;
        self.connection
            .execute(
                "INSERT INTO runs (id, started_at, status, pid, options, resumed_from) VALUES (?1, ?2, 'running', ?3, ?4, ?5)",
                params![id, now(), std::process::id(), options, resumed_from],
            )
            .map_err(self.sql("recording a run"))?;
        Ok(())
    }

    /// Appends a step to a run's journal.
    pub fn journal(
        &self,
        run: &str,
        step: Step,
        subject: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT INTO journal (run, seq, step, subject, detail, at)
                 VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM journal WHERE run = ?1), ?2, ?3, ?4, ?5)",
                params![run, step.as_str(), subject, detail, now()],
            )
            .map_err(self.sql("writing the journal"))?;
        Ok(())
    }

    /// A run's journal: (step, subject, detail, at), in order.
    pub fn journal_of(
        &self,
        run: &str,
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT step, subject, detail, at FROM journal WHERE run = ?1 ORDER BY seq")
            .map_err(self.sql("reading the journal"))?;
        statement
            .query_map(params![run], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(self.sql("reading the journal"))?
            .collect::<Result<_, _>>()
            .map_err(self.sql("reading the journal"))
    }

    /// Finishes a run with its status and report, and records its outcomes, in one transaction.
    pub fn finish_run(
        &mut self,
        id: &str,
        status: RunState,
        report: &impl Serialize,
        patches: &[PatchOutcomeRow],
    ) -> Result<(), StoreError> {
        let report = serde_json::to_string(report).map_err(|source| StoreError::Decode {
            what: "run report",
            source,
        })?;
        let database = self.path.clone();
        let sql = |action| {
            let database = database.clone();
            move |source| StoreError::Sql {
                path: database,
                action,
                source,
            }
        };
        let transaction = self
            .connection
            .transaction()
            .map_err(sql("finishing a run"))?;
        transaction
            .execute(
                "UPDATE runs SET status = ?2, finished_at = ?3, report = ?4 WHERE id = ?1",
                params![id, status.as_str(), now(), report],
            )
            .map_err(sql("finishing a run"))?;
        for row in patches {
            transaction
                .execute(
                    "INSERT OR REPLACE INTO patch_outcomes (run, patch, outcome, upstream_commit, matched_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, row.patch, row.outcome, row.upstream_commit, row.matched_by],
                )
                .map_err(sql("recording patch outcomes"))?;
            transaction
                .execute(
                    "INSERT OR IGNORE INTO patch_first_seen (patch, run, at) VALUES (?1, ?2, ?3)",
                    params![row.patch, id, now()],
                )
                .map_err(sql("recording patch outcomes"))?;
        }
        transaction.commit().map_err(sql("finishing a run"))
    }

    /// Marks a run that could not do its job.
    pub fn fail_run(&self, id: &str, why: &str) -> Result<(), StoreError> {
        self.connection
            .execute(
                "UPDATE runs SET status = 'failed', finished_at = ?2, report = ?3 WHERE id = ?1",
                params![id, now(), serde_json::json!({ "error": why }).to_string()],
            )
            .map_err(self.sql("recording a failed run"))?;
        Ok(())
    }

    /// The runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT id, started_at, finished_at, status, pid, resumed_from FROM runs
                 ORDER BY started_at DESC, rowid DESC LIMIT ?1",
            )
            .map_err(self.sql("listing runs"))?;
        statement
            .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                Ok(RunRecord {
                    id: row.get(0)?,
                    started_at: row.get(1)?,
                    finished_at: row.get(2)?,
                    status: {
                        let text: String = row.get(3)?;
                        RunState::parse(&text).ok_or_else(|| {
                            rusqlite::Error::FromSqlConversionFailure(
                                3,
                                rusqlite::types::Type::Text,
                                format!("unknown run status '{text}'").into(),
                            )
                        })?
                    },
                    pid: row.get(4)?,
                    resumed_from: row.get(5)?,
                })
            })
            .map_err(self.sql("listing runs"))?
            .collect::<Result<_, _>>()
            .map_err(self.sql("listing runs"))
    }

    /// A finished run's stored report, as JSON text.
    pub fn report(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.connection
            .query_row(
                "SELECT report FROM runs WHERE id = ?1",
                params![id],
                |row| row.get::<_, Option<String>>(0),
            )
            .optional()
            .map_err(self.sql("reading a report"))
            .map(Option::flatten)
    }

    /// The newest run that finished with a report.
    pub fn last_reported_run(&self) -> Result<Option<String>, StoreError> {
        self.connection
            .query_row(
                "SELECT id FROM runs WHERE report IS NOT NULL AND status IN ('clean', 'attention')
                 ORDER BY started_at DESC, rowid DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.sql("finding the last run"))
    }

    /// When carry first saw a patch (RFC 3339), by `PROJECT/NAME`.
    pub fn first_seen(&self, patch: &str) -> Result<Option<String>, StoreError> {
        self.connection
            .query_row(
                "SELECT at FROM patch_first_seen WHERE patch = ?1",
                params![patch],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.sql("reading first-seen dates"))
    }

    /// The identity of the series `project` carried when a run last found it clean.
    pub fn series_seen(&self, project: &str) -> Result<Option<String>, StoreError> {
        self.connection
            .query_row(
                "SELECT identity FROM series_seen WHERE project = ?1",
                params![project],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.sql("reading the series last seen"))
    }

    /// Records that run `run` found `project` clean carrying the series `identity`.
    pub fn record_series_seen(
        &self,
        project: &str,
        identity: &str,
        run: &str,
    ) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO series_seen (project, identity, run) VALUES (?1, ?2, ?3)",
                params![project, identity, run],
            )
            .map_err(self.sql("recording the series seen"))?;
        Ok(())
    }

    /// The upstream commit cache of a project.
    pub fn upstream_cache<T: DeserializeOwned + Default>(
        &self,
        project: &str,
    ) -> Result<T, StoreError> {
        let data: Option<Vec<u8>> = self
            .connection
            .query_row(
                "SELECT data FROM upstream_cache WHERE project = ?1",
                params![project],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.sql("reading the upstream cache"))?;
        // A cache that does not decode (an older layout) is only a cache: start afresh.
        Ok(data
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default())
    }

    /// Saves the upstream commit cache of a project.
    pub fn save_upstream_cache(
        &self,
        project: &str,
        cache: &impl Serialize,
    ) -> Result<(), StoreError> {
        let data = serde_json::to_vec(cache).map_err(|source| StoreError::Decode {
            what: "upstream cache",
            source,
        })?;
        self.connection
            .execute(
                "INSERT OR REPLACE INTO upstream_cache (project, data) VALUES (?1, ?2)",
                params![project, data],
            )
            .map_err(self.sql("saving the upstream cache"))?;
        Ok(())
    }

    /// A rebase result recorded for the same inputs.
    pub fn rebase_result<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.result("rebase_results", key)
    }

    /// Records a rebase result for its inputs.
    pub fn save_rebase_result(
        &self,
        key: &str,
        project: &str,
        run: &str,
        value: &impl Serialize,
    ) -> Result<(), StoreError> {
        self.save_result("rebase_results", key, project, run, value)
    }

    /// A test result recorded for the same inputs.
    pub fn test_result<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.result("test_results", key)
    }

    /// Records a test result for its inputs.
    pub fn save_test_result(
        &self,
        key: &str,
        project: &str,
        run: &str,
        value: &impl Serialize,
    ) -> Result<(), StoreError> {
        self.save_result("test_results", key, project, run, value)
    }

    fn result<T: DeserializeOwned>(
        &self,
        table: &'static str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let data: Option<Vec<u8>> = self
            .connection
            .query_row(
                &format!("SELECT data FROM {table} WHERE key = ?1"),
                params![key],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.sql("reading a recorded result"))?;
        Ok(data.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    fn save_result(
        &self,
        table: &'static str,
        key: &str,
        project: &str,
        run: &str,
        value: &impl Serialize,
    ) -> Result<(), StoreError> {
        let data = serde_json::to_vec(value).map_err(|source| StoreError::Decode {
            what: "a result",
            source,
        })?;
        self.connection
            .execute(
                &format!("INSERT OR REPLACE INTO {table} (key, project, run, data) VALUES (?1, ?2, ?3, ?4)"),
                params![key, project, run, data],
            )
            .map_err(self.sql("recording a result"))?;
        Ok(())
    }

    /// Patch counts per finished run, oldest first: (run, started_at, patches carried).
    pub fn carried_over_time(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT r.id, r.started_at, COUNT(p.patch) FROM runs r
                 LEFT JOIN patch_outcomes p ON p.run = r.id AND p.outcome != 'landed'
                 WHERE r.status IN ('clean', 'attention')
                 GROUP BY r.id ORDER BY r.started_at, r.rowid",
            )
            .map_err(self.sql("reading the trend"))?;
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .map_err(self.sql("reading the trend"))?
            .collect::<Result<_, _>>()
            .map_err(self.sql("reading the trend"))
    }
}

impl Store {
    /// Records that a promotion of `run` started, with its plan.
    pub fn start_promotion(
        &self,
        id: &str,
        run: &str,
        plan: &impl Serialize,
    ) -> Result<(), StoreError> {
        let plan = serde_json::to_string(plan).map_err(|source| StoreError::Decode {
            what: "a promotion plan",
            source,
        })?;
        self.connection
            .execute(
                "INSERT INTO promotions (id, run, started_at, status, plan) VALUES (?1, ?2, ?3, 'running', ?4)",
                params![id, run, now(), plan],
            )
            .map_err(self.sql("recording a promotion"))?;
        Ok(())
    }

    /// Records how a promotion ended.
    pub fn finish_promotion(&self, id: &str, end: PromotionEnd) -> Result<(), StoreError> {
        let status = match end {
            PromotionEnd::Done => "done",
            PromotionEnd::Abandoned => "abandoned",
        };
        self.connection
            .execute(
                "UPDATE promotions SET status = ?2, finished_at = ?3 WHERE id = ?1",
                params![id, status, now()],
            )
            .map_err(self.sql("recording a promotion"))?;
        Ok(())
    }

    /// The promotion that started and did not end (killed part way), with its plan.
    pub fn unfinished_promotion<T: serde::de::DeserializeOwned>(
        &self,
    ) -> Result<Option<(String, T)>, StoreError> {
        let found: Option<(String, String)> = self
            .connection
            .query_row(
                "SELECT id, plan FROM promotions WHERE status = 'running' ORDER BY started_at LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(self.sql("reading promotions"))?;
        found
            .map(|(id, plan)| {
                serde_json::from_str(&plan)
                    .map(|plan| (id, plan))
                    .map_err(|source| StoreError::Decode {
                        what: "a promotion plan",
                        source,
                    })
            })
            .transpose()
    }

    /// Remembers a landed patch a promotion dropped.
    pub fn remember_landed(
        &self,
        project: &str,
        patch: &str,
        subject: &str,
        upstream_commit: Option<&str>,
        matched_by: &str,
        run: &str,
    ) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO landed_patches (project, patch, subject, upstream_commit, matched_by, run, dropped_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![project, patch, subject, upstream_commit, matched_by, run, now()],
            )
            .map_err(self.sql("remembering a landed patch"))?;
        Ok(())
    }

    /// Every landed patch a promotion dropped, oldest first.
    pub fn landed_patches(&self) -> Result<Vec<LandedRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT project, patch, subject, upstream_commit, matched_by, run, dropped_at
                 FROM landed_patches ORDER BY dropped_at, project, patch",
            )
            .map_err(self.sql("reading landed patches"))?;
        statement
            .query_map([], |row| {
                Ok(LandedRecord {
                    project: row.get(0)?,
                    patch: row.get(1)?,
                    subject: row.get(2)?,
                    upstream_commit: row.get(3)?,
                    matched_by: row.get(4)?,
                    run: row.get(5)?,
                    dropped_at: row.get(6)?,
                })
            })
            .map_err(self.sql("reading landed patches"))?
            .collect::<Result<_, _>>()
            .map_err(self.sql("reading landed patches"))
    }
}

/// A landed patch a promotion dropped: debt paid off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LandedRecord {
    /// Its project.
    pub project: String,
    /// `PROJECT/NAME`.
    pub patch: String,
    /// Its subject.
    pub subject: String,
    /// The upstream commit that took it, where one matched.
    pub upstream_commit: Option<String>,
    /// The signal that matched (`patch-id`, `change-id`, `cherry-pick`, `empty`).
    pub matched_by: String,
    /// The run whose promotion dropped it.
    pub run: String,
    /// When it was dropped (RFC 3339).
    pub dropped_at: String,
}

/// How a promotion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionEnd {
    /// Every step of its plan was made.
    Done,
    /// A human gave up on the rest of its plan.
    Abandoned,
}

/// One patch's outcome in a run, for [`Store::finish_run`].
#[derive(Debug, Clone)]
pub struct PatchOutcomeRow {
    /// `PROJECT/NAME`.
    pub patch: String,
    /// applied, landed, conflict or blocked.
    pub outcome: String,
    /// The upstream commit a landed patch matched.
    pub upstream_commit: Option<String>,
    /// How it matched.
    pub matched_by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_migrates_to_the_latest_schema_and_reopens() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        assert_eq!(
            store.schema_version().expect("version"),
            i64::try_from(MIGRATIONS.len()).expect("few migrations")
        );
        drop(store);
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(
            store.schema_version().expect("version"),
            i64::try_from(MIGRATIONS.len()).expect("few migrations")
        );
    }

    #[test]
    fn a_version_1_store_migrates_to_the_latest_keeping_its_runs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let connection = Connection::open(dir.path().join("carry.db")).expect("sqlite");
        connection
            .execute_batch(MIGRATIONS[0])
            .expect("version 1 schema");
        connection
            .pragma_update(None, "user_version", 1)
            .expect("version 1");
        connection
            .execute("INSERT INTO runs (id, started_at, status, pid, options) VALUES ('old', '2026-01-01T00:00:00Z', 'clean', 1, '{}')", [])
            .expect("a run");
        drop(connection);
        let store = Store::open(dir.path()).expect("migrates");
        assert_eq!(
            store.schema_version().expect("version"),
            i64::try_from(MIGRATIONS.len()).expect("few migrations")
        );
        assert_eq!(store.runs(10).expect("runs")[0].id, "old");
        store
            .remember_landed("ovs", "ovs/fix", "fix", Some("abc"), "patch-id", "old")
            .expect("new table");
        store
            .record_series_seen("ovs", "abc", "old")
            .expect("newest table");
        assert_eq!(
            store.series_seen("ovs").expect("read back").as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn a_store_from_a_newer_carry_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        drop(Store::open(dir.path()).expect("open"));
        let connection = Connection::open(dir.path().join("carry.db")).expect("sqlite");
        connection
            .pragma_update(None, "user_version", 99)
            .expect("bump");
        drop(connection);
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn a_damaged_store_is_named_as_such() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(inspect(dir.path()), StoreHealth::Missing);
        let store = Store::open(dir.path()).expect("store");
        store.start_run("r1", &"{}", None).expect("run");
        drop(store);
        assert!(matches!(
            inspect(dir.path()),
            StoreHealth::Sound { runs: 1, .. }
        ));
        // Garbage over the file's pages, past its header.
        let path = dir.path().join("carry.db");
        let _ = std::fs::remove_file(dir.path().join("carry.db-wal"));
        let _ = std::fs::remove_file(dir.path().join("carry.db-shm"));
        let mut bytes = std::fs::read(&path).expect("db");
        for byte in bytes.iter_mut().skip(100) {
            *byte = 0xA5;
        }
        std::fs::write(&path, bytes).expect("write");
        assert!(
            matches!(inspect(dir.path()), StoreHealth::Damaged(_)),
            "{:?}",
            inspect(dir.path())
        );
        let error = Store::open(dir.path())
            .and_then(|store| store.runs(10).map(|_| ()))
            .expect_err("a damaged store fails");
        assert!(error.is_corrupt(), "{error:?}");
    }

    #[test]
    fn runs_left_running_are_marked_interrupted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        store
            .start_run("r1", &serde_json::json!({}), None)
            .expect("start");
        store
            .journal("r1", Step::Rebased, "qemu", "{}")
            .expect("journal");
        assert_eq!(store.interrupt_dead_runs().expect("interrupt"), ["r1"]);
        assert_eq!(
            store.runs(10).expect("runs")[0].status,
            RunState::Interrupted
        );
        assert_eq!(store.journal_of("r1").expect("journal").len(), 1);
    }
}
