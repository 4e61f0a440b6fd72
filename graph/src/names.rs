//! Validated names: projects, features, patches and qualified patch references.
//!
//! Every name is parsed once, at the edge, into a newtype whose `FromStr` error says what is
//! wrong. Names end up in git ref names (`refs/carry/candidate/<project>`), file names and
//! environment variables, so the rules are strict: ASCII letters, digits, `.`, `_`, `-` and
//! `+`, not starting with `.` or `-`, never containing `..`.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::Serialize;

/// Why a string is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is the empty string.
    #[error("name is empty")]
    Empty,
    /// The name contains whitespace.
    #[error("name '{0}' contains whitespace")]
    Whitespace(String),
    /// The name contains a slash.
    #[error("name '{0}' contains '/'")]
    Slash(String),
    /// The name contains `..`.
    #[error("name '{0}' contains '..'")]
    DotDot(String),
    /// The name starts with `.` or `-`.
    #[error("name '{0}' starts with '{1}'")]
    BadStart(String, char),
    /// The name contains a character outside the allowed set.
    #[error("name '{0}' contains '{1}'; use letters, digits, '.', '_', '-' or '+'")]
    BadChar(String, char),
    /// A patch reference is not of the form `PROJECT/NAME`.
    #[error("patch reference '{0}' is not of the form PROJECT/NAME")]
    NotQualified(String),
}

fn check_name(raw: &str) -> Result<(), NameError> {
    let owned = || raw.to_owned();
    let Some(first) = raw.chars().next() else {
        return Err(NameError::Empty);
    };
    if raw.chars().any(char::is_whitespace) {
        return Err(NameError::Whitespace(owned()));
    }
    if raw.contains('/') {
        return Err(NameError::Slash(owned()));
    }
    if raw.contains("..") {
        return Err(NameError::DotDot(owned()));
    }
    if first == '.' || first == '-' {
        return Err(NameError::BadStart(owned(), first));
    }
    if let Some(bad) = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+')))
    {
        return Err(NameError::BadChar(owned(), bad));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(raw: &str) -> Result<Self, NameError> {
                check_name(raw)?;
                Ok(Self(raw.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(raw: String) -> Result<Self, NameError> {
                check_name(&raw)?;
                Ok(Self(raw))
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// A project's name, the key of a `[project.NAME]` table.
    ProjectName
);
name_type!(
    /// A feature's name, the key of a `[feature.NAME]` table.
    FeatureName
);
name_type!(
    /// A patch's name inside its series: a file stem, a `Carry-Patch` trailer or a subject slug.
    PatchName
);

impl ProjectName {
    /// The suffix of the `CARRY_DEP_<NAME>` variable: upper case, anything else as `_`.
    pub fn env_suffix(&self) -> String {
        self.0
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// A patch referred to across the workspace as `PROJECT/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PatchRef {
    /// The project whose series carries the patch.
    pub project: ProjectName,
    /// The patch's name in that series.
    pub name: PatchName,
}

impl PatchRef {
    /// A reference to `name` in `project`.
    pub fn new(project: ProjectName, name: PatchName) -> Self {
        Self { project, name }
    }
}

impl FromStr for PatchRef {
    type Err = NameError;
    fn from_str(raw: &str) -> Result<Self, NameError> {
        let Some((project, name)) = raw.split_once('/') else {
            return Err(NameError::NotQualified(raw.to_owned()));
        };
        Ok(Self {
            project: project.parse()?,
            name: name.parse()?,
        })
    }
}

impl TryFrom<String> for PatchRef {
    type Error = NameError;
    fn try_from(raw: String) -> Result<Self, NameError> {
        raw.parse()
    }
}

impl From<PatchRef> for String {
    fn from(patch: PatchRef) -> String {
        patch.to_string()
    }
}

impl fmt::Display for PatchRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.name)
    }
}

/// The longest file name `git format-patch` writes, suffix included (`format.filenameMaxLength`).
const FORMAT_PATCH_NAME_MAX: usize = 64;

/// The slug `git format-patch` makes of a subject for its file name, without the `NNNN-`
/// number or the `.patch` suffix, truncated as git truncates it.
///
/// Mirrors git's `format_sanitized_subject`: runs of anything but ASCII letters, digits, `.`
/// and `_` become one `-`, runs of `.` collapse to one, and trailing `.`/`-` are trimmed; then
/// the whole `NNNN-slug` is cut so that with `.patch` it stays within 64 bytes.
pub fn format_patch_slug(subject: &str) -> String {
    let bytes = subject.as_bytes();
    let mut slug = String::with_capacity(bytes.len());
    // 2: nothing written yet; 1: a separator is pending; 0: inside a word.
    let mut space = 2u8;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' {
            if space == 1 {
                slug.push('-');
            }
            space = 0;
            slug.push(char::from(c));
            if c == b'.' {
                while bytes.get(i + 1) == Some(&b'.') {
                    i += 1;
                }
            }
        } else {
            space |= 1;
        }
        i += 1;
    }
    while slug.ends_with('.') || slug.ends_with('-') {
        slug.pop();
    }
    // git cuts "NNNN-" + slug to (max - len(".patch") - 1) bytes; the slug is ASCII.
    let max_slug = FORMAT_PATCH_NAME_MAX - ".patch".len() - 1 - "0001-".len();
    slug.truncate(max_slug);
    slug
}

/// Names patches of one series in order, giving a repeated name `NAME-2`, `NAME-3`, …
///
/// A generated name never repeats one already given, even when a patch is literally named
/// `fix-2` before the second `fix` arrives.
#[derive(Debug, Default)]
pub struct PatchNamer {
    given: std::collections::HashSet<String>,
}

impl PatchNamer {
    /// The name for the next patch whose natural name is `natural`.
    pub fn next_name(&mut self, natural: &str) -> String {
        let mut candidate = natural.to_owned();
        let mut n = 1;
        while self.given.contains(&candidate) {
            n += 1;
            candidate = format!("{natural}-{n}");
        }
        self.given.insert(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_what_refs_and_paths_cannot_hold() {
        assert!("libvirt".parse::<ProjectName>().is_ok());
        assert!("open-vswitch_2.0".parse::<ProjectName>().is_ok());
        assert_eq!("".parse::<ProjectName>(), Err(NameError::Empty));
        assert!(matches!(
            "a b".parse::<ProjectName>(),
            Err(NameError::Whitespace(_))
        ));
        assert!(matches!(
            "a/b".parse::<ProjectName>(),
            Err(NameError::Slash(_))
        ));
        assert!(matches!(
            "a..b".parse::<ProjectName>(),
            Err(NameError::DotDot(_))
        ));
        assert!(matches!(
            "-a".parse::<ProjectName>(),
            Err(NameError::BadStart(_, '-'))
        ));
        assert!(matches!(
            "a:b".parse::<ProjectName>(),
            Err(NameError::BadChar(_, ':'))
        ));
    }

    #[test]
    fn patch_refs_split_at_the_first_slash() {
        let patch: PatchRef = "libvirt/hostdev-vf".parse().expect("valid");
        assert_eq!(patch.project.as_str(), "libvirt");
        assert_eq!(patch.name.as_str(), "hostdev-vf");
        assert!(matches!(
            "libvirt".parse::<PatchRef>(),
            Err(NameError::NotQualified(_))
        ));
        assert!("libvirt/a/b".parse::<PatchRef>().is_err());
    }

    #[test]
    fn slug_follows_format_patch() {
        assert_eq!(
            format_patch_slug("qemu: add VFIO SR-IOV support"),
            "qemu-add-VFIO-SR-IOV-support"
        );
        assert_eq!(format_patch_slug("fix ... dots..."), "fix-.-dots");
        assert_eq!(format_patch_slug("[PATCH] x"), "PATCH-x");
        assert_eq!(format_patch_slug("   "), "");
        assert_eq!(format_patch_slug(&"a".repeat(100)).len(), 52);
    }

    #[test]
    fn repeated_names_are_numbered_in_order() {
        let mut namer = PatchNamer::default();
        assert_eq!(namer.next_name("fix"), "fix");
        assert_eq!(namer.next_name("other"), "other");
        assert_eq!(namer.next_name("fix"), "fix-2");
        assert_eq!(namer.next_name("fix"), "fix-3");
    }
}
