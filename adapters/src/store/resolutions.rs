//! What humans decided about conflicts: recorded resolutions, reviews of resolutions carry
//! re-applied by itself, and patches dropped from their series.

use rusqlite::params;
use serde::Deserialize;
use serde::Serialize;

use super::Store;
use super::StoreError;
use super::now;
use crate::rebase::resolutions::HunkResolution;
use crate::rebase::resolutions::RecordedResolution;

/// A human's approval of a resolution re-applied onto an upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionReview {
    /// The project.
    pub project: String,
    /// The patch's name.
    pub patch: String,
    /// The resolution.
    pub resolution: String,
    /// The upstream commit it was re-applied onto.
    pub onto: String,
    /// Who approved it (`$USER`, or the service's caller).
    pub acked_by: String,
    /// Whether it was not reviewed but promoted with `--force`.
    pub forced: bool,
    /// When.
    pub at: String,
}

/// A patch a human dropped from its series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedPatch {
    /// The project.
    pub project: String,
    /// The patch's name.
    pub patch: String,
    /// Its normalized diff when it was dropped.
    pub patch_id: Option<String>,
    /// Why.
    pub reason: String,
    /// The run whose conflict it was.
    pub run: String,
    /// When.
    pub dropped_at: String,
}

impl Store {
    /// Records a human's resolution of one of `project`'s patch conflicts, every region of it
    /// or none; recording one already there changes nothing.
    pub fn save_resolution(
        &mut self,
        project: &str,
        conflict_key: &str,
        run: &str,
        resolution: &RecordedResolution,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = move |source| StoreError::Sql {
            path: path.clone(),
            action: "recording a resolution",
            source,
        };
        let transaction = self.connection.transaction().map_err(&sql)?;
        let recorded_at = now();
        for hunk in &resolution.hunks {
            transaction
                .execute(
                    "INSERT OR REPLACE INTO resolutions
                     (project, patch, path, upstream, base, patch_side, resolved, conflict_key,
                      run, recorded_at, resolution_id, patch_id, onto)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    params![
                        project,
                        resolution.patch,
                        hunk.path,
                        hunk.upstream,
                        hunk.base,
                        hunk.patch,
                        hunk.resolved,
                        conflict_key,
                        run,
                        recorded_at,
                        resolution.id,
                        resolution.patch_id,
                        resolution.onto,
                    ],
                )
                .map_err(&sql)?;
        }
        transaction.commit().map_err(&sql)
    }

    /// Every resolution recorded for `project`'s patches, oldest first.
    pub fn resolutions_of(&self, project: &str) -> Result<Vec<RecordedResolution>, StoreError> {
        Ok(self
            .all_resolutions()?
            .into_iter()
            .filter(|(p, _)| p == project)
            .map(|(_, resolution)| resolution)
            .collect())
    }

    /// Every recorded resolution, with its project, oldest first.
    pub fn all_resolutions(&self) -> Result<Vec<(String, RecordedResolution)>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT project, patch, path, upstream, base, patch_side, resolved,
                        COALESCE(resolution_id, conflict_key), patch_id, onto
                 FROM resolutions ORDER BY recorded_at, rowid",
            )
            .map_err(self.sql("reading resolutions"))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    HunkResolution {
                        path: row.get(2)?,
                        upstream: row.get(3)?,
                        base: row.get(4)?,
                        patch: row.get(5)?,
                        resolved: row.get(6)?,
                    },
                    row.get::<_, String>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, Option<String>>(9)?,
                ))
            })
            .map_err(self.sql("reading resolutions"))?;
        let mut found: Vec<(String, RecordedResolution)> = Vec::new();
        for row in rows {
            let (project, patch, hunk, id, patch_id, onto) =
                row.map_err(self.sql("reading resolutions"))?;
            match found
                .iter_mut()
                .find(|(p, r)| *p == project && r.id == id && r.patch == patch)
            {
                Some((_, resolution)) => resolution.hunks.push(hunk),
                None => found.push((
                    project,
                    RecordedResolution {
                        id,
                        patch,
                        patch_id,
                        onto,
                        hunks: vec![hunk],
                    },
                )),
            }
        }
        Ok(found)
    }

    /// Records a review (or a forced promotion) of a re-applied resolution.
    pub fn save_review(&self, review: &ResolutionReview) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO resolution_reviews
                 (project, patch, resolution_id, onto, acked_by, forced, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    review.project,
                    review.patch,
                    review.resolution,
                    review.onto,
                    review.acked_by,
                    review.forced,
                    review.at
                ],
            )
            .map_err(self.sql("recording a review"))?;
        Ok(())
    }

    /// Every review, oldest first.
    pub fn reviews(&self) -> Result<Vec<ResolutionReview>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT project, patch, resolution_id, onto, acked_by, forced, at
                 FROM resolution_reviews ORDER BY at, rowid",
            )
            .map_err(self.sql("reading reviews"))?;
        let rows = statement
            .query_map([], |row| {
                Ok(ResolutionReview {
                    project: row.get(0)?,
                    patch: row.get(1)?,
                    resolution: row.get(2)?,
                    onto: row.get(3)?,
                    acked_by: row.get(4)?,
                    forced: row.get(5)?,
                    at: row.get(6)?,
                })
            })
            .map_err(self.sql("reading reviews"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.sql("reading reviews"))
    }

    /// Records that a human dropped a patch from its series.
    pub fn save_drop(&self, dropped: &DroppedPatch) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO dropped_patches
                 (project, patch, patch_id, reason, run, dropped_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    dropped.project,
                    dropped.patch,
                    dropped.patch_id,
                    dropped.reason,
                    dropped.run,
                    dropped.dropped_at
                ],
            )
            .map_err(self.sql("recording a dropped patch"))?;
        Ok(())
    }

    /// Every patch a human dropped, oldest first.
    pub fn drops(&self) -> Result<Vec<DroppedPatch>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT project, patch, patch_id, reason, run, dropped_at
                 FROM dropped_patches ORDER BY dropped_at, rowid",
            )
            .map_err(self.sql("reading dropped patches"))?;
        let rows = statement
            .query_map([], |row| {
                Ok(DroppedPatch {
                    project: row.get(0)?,
                    patch: row.get(1)?,
                    patch_id: row.get(2)?,
                    reason: row.get(3)?,
                    run: row.get(4)?,
                    dropped_at: row.get(5)?,
                })
            })
            .map_err(self.sql("reading dropped patches"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.sql("reading dropped patches"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolution(id: &str, path: &str) -> RecordedResolution {
        RecordedResolution {
            id: id.to_owned(),
            patch: "0001-fix.patch".to_owned(),
            patch_id: Some("abc".to_owned()),
            onto: Some("def".to_owned()),
            hunks: vec![HunkResolution {
                path: path.to_owned(),
                upstream: b"u\n".to_vec(),
                base: b"b\n".to_vec(),
                patch: b"p\n".to_vec(),
                resolved: b"r\n".to_vec(),
            }],
        }
    }

    #[test]
    fn resolutions_reviews_and_drops_are_kept_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("store");
        store
            .save_resolution("kernel", "key", "run-1", &resolution("r1", "a.c"))
            .expect("saved");
        store
            .save_resolution("kernel", "key", "run-2", &resolution("r2", "b.c"))
            .expect("saved");
        store
            .save_resolution("qemu", "key", "run-2", &resolution("r3", "a.c"))
            .expect("saved");
        let kernel = store.resolutions_of("kernel").expect("read");
        assert_eq!(kernel, [resolution("r1", "a.c"), resolution("r2", "b.c")]);
        assert_eq!(store.all_resolutions().expect("read").len(), 3);

        let review = ResolutionReview {
            project: "kernel".to_owned(),
            patch: "0001-fix.patch".to_owned(),
            resolution: "r1".to_owned(),
            onto: "def".to_owned(),
            acked_by: "ana".to_owned(),
            forced: false,
            at: now(),
        };
        store.save_review(&review).expect("saved");
        store.save_review(&review).expect("saved again, once");
        assert_eq!(store.reviews().expect("read"), [review]);

        let dropped = DroppedPatch {
            project: "kernel".to_owned(),
            patch: "0002-old.patch".to_owned(),
            patch_id: None,
            reason: "upstream took another approach".to_owned(),
            run: "run-2".to_owned(),
            dropped_at: now(),
        };
        store.save_drop(&dropped).expect("saved");
        assert_eq!(store.drops().expect("read"), [dropped]);
    }
}
