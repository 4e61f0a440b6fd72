//! Whether a resolution carry re-applied by itself was looked at by a human.
//!
//! A resolution is made by a human on one upstream commit; carry re-applying it there needs no
//! review. Re-applied onto any other upstream it needs one, until a human acknowledges it
//! there (`carry review --ack`), or forces a promotion past it (recorded as such).

use carry_adapters::store::ResolutionReview;
use carry_adapters::store::Store;
use carry_adapters::store::StoreError;

use crate::report::ProjectReport;
use crate::report::ReviewState;
use crate::report::RunReport;

/// The resolutions and reviews a workspace has recorded.
#[derive(Debug, Default)]
pub struct Reviews {
    /// (project, resolution id, the upstream it was made on).
    made_on: Vec<(String, String, Option<String>)>,
    reviews: Vec<ResolutionReview>,
}

impl Reviews {
    /// Reads them from the store.
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            made_on: store
                .all_resolutions()?
                .into_iter()
                .map(|(project, resolution)| (project, resolution.id, resolution.onto))
                .collect(),
            reviews: store.reviews()?,
        })
    }

    /// Whether `resolution`, re-applied to `project`'s `patch` onto `onto`, was looked at.
    pub fn state(&self, project: &str, patch: &str, resolution: &str, onto: &str) -> ReviewState {
        let made_here = self
            .made_on
            .iter()
            .any(|(p, id, made)| p == project && id == resolution && made.as_deref() == Some(onto));
        let acknowledged = self.reviews.iter().any(|review| {
            review.project == project
                && review.patch == patch
                && review.resolution == resolution
                && review.onto == onto
                && !review.forced
        });
        if made_here || acknowledged {
            ReviewState::Acknowledged
        } else {
            ReviewState::Required
        }
    }

    /// Sets `review` on each of `project`'s patches applied with a resolution.
    pub fn mark(&self, project: &mut ProjectReport) {
        let Some(onto) = project.upstream.as_ref().map(|u| u.to.clone()) else {
            return;
        };
        let name = project.name.to_string();
        for patch in &mut project.patches {
            if let Some(resolution) = &patch.resolution {
                patch.review = Some(self.state(&name, patch.id.name.as_str(), resolution, &onto));
            }
        }
    }

    /// Sets `review` on every patch of `report` applied with a resolution, as things stand
    /// now (a report read back from the store says what was true when it was made).
    pub fn mark_report(&self, report: &mut RunReport) {
        for project in &mut report.projects {
            self.mark(project);
        }
    }
}

/// Who is acting: git's `user.email` (as a commit would say), else `$USER`, else "unknown".
pub fn who() -> String {
    git2::Config::open_default()
        .and_then(|config| config.get_string("user.email"))
        .ok()
        .filter(|email| !email.trim().is_empty())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}
