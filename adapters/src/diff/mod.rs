//! Diffs as `git apply` reads and applies them, on bytes: parsing ([`parse`]), placing text
//! hunks ([`hunks`]), binary data ([`binary`]) and quoted paths ([`quote`]). Pure: no git, no
//! files; the tree-level application is in [`crate::rebase::apply`].

pub mod binary;
pub mod hunks;
pub mod parse;
pub mod quote;

pub use parse::FilePatch;
pub use parse::Hunk;
