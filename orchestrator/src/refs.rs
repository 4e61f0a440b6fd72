//! The refs carry writes in project repositories (all under `refs/carry/`; the user's own
//! branches are only moved by promotion).

/// Where candidates go in each project's repository.
pub const CANDIDATE_REFS: &str = "refs/carry/candidate/";

/// Where carry remembers the base of a patch directory that pins none.
pub const APPLIED_BASE_REFS: &str = "refs/carry/applied-base/";
