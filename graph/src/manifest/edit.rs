//! Edits to `carry.toml` that keep everything else as the user wrote it: comments, order,
//! spacing, quoting. Used by promotion to move a pinned `base` and to follow renamed patches.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use toml_edit::DocumentMut;
use toml_edit::Item;
use toml_edit::Value;

/// Why an edit could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The text is not TOML (it changed since it was validated).
    #[error("the manifest no longer parses: {0}")]
    Parse(String),
    /// The project or its series is not where it should be.
    #[error("the manifest has no series for project '{0}'")]
    NoSeries(String),
}

/// What a promotion changes in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestEdit {
    /// Each `project.NAME.series.base` to set.
    pub bases: BTreeMap<String, String>,
    /// Feature patch ids that changed (old `PROJECT/NAME` → new), keys and needs alike.
    pub renames: BTreeMap<String, String>,
    /// Feature patch ids of patches that are gone (landed upstream): removed as keys and as
    /// needs. A feature left with no patch is removed: all of it landed.
    pub removed: BTreeSet<String>,
}

impl ManifestEdit {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.bases.is_empty() && self.renames.is_empty() && self.removed.is_empty()
    }
}

/// The manifest with `edit` made; returns the text and the features removed because none of
/// their patches is left.
pub fn edit_manifest(text: &str, edit: &ManifestEdit) -> Result<(String, Vec<String>), EditError> {
    let mut document: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Parse(e.to_string()))?;
    let removed_features = remove_patches(&mut document, &edit.removed);
    let text = update_manifest(&document.to_string(), &edit.bases, &edit.renames)?;
    Ok((text, removed_features))
}

/// Removes `removed` from every feature, keys and needs; then every feature with no patch
/// left. Returns the features removed.
fn remove_patches(document: &mut DocumentMut, removed: &BTreeSet<String>) -> Vec<String> {
    let mut emptied = Vec::new();
    if removed.is_empty() {
        return emptied;
    }
    let Some(features) = document
        .get_mut("feature")
        .and_then(Item::as_table_like_mut)
    else {
        return emptied;
    };
    for (name, feature) in features.iter_mut() {
        let Some(patches) = feature.get_mut("patches").and_then(Item::as_table_like_mut) else {
            continue;
        };
        let keys: Vec<String> = patches.iter().map(|(k, _)| k.to_owned()).collect();
        for key in keys {
            if removed.contains(&key) {
                patches.remove(&key);
                continue;
            }
            if let Some(Item::Value(Value::Array(needs))) = patches.get_mut(&key) {
                let before = needs.len();
                needs.retain(|need| need.as_str().is_none_or(|id| !removed.contains(id)));
                if needs.len() != before
                    && let Some(first) = needs.get_mut(0)
                {
                    // The first need keeps the array's own spacing, not the gap after a comma.
                    first.decor_mut().set_prefix("");
                }
            }
        }
        if patches.is_empty() {
            emptied.push(name.get().to_owned());
        }
    }
    for name in &emptied {
        features.remove(name);
    }
    emptied
}

/// The manifest with each `project.NAME.series.base` in `bases` set, and every feature patch
/// id in `renames` (old `PROJECT/NAME` → new) replaced, keys and needs alike.
pub fn update_manifest(
    text: &str,
    bases: &BTreeMap<String, String>,
    renames: &BTreeMap<String, String>,
) -> Result<String, EditError> {
    let mut document: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Parse(e.to_string()))?;
    for (project, base) in bases {
        let series = document
            .get_mut("project")
            .and_then(|p| p.get_mut(project))
            .and_then(|p| p.get_mut("series"))
            .ok_or_else(|| EditError::NoSeries(project.clone()))?;
        match series {
            Item::Value(Value::InlineTable(table)) => {
                if let Some(value) = table.get_mut("base") {
                    let decor = value.decor().clone();
                    *value = Value::from(base.as_str());
                    *value.decor_mut() = decor;
                }
            }
            Item::Table(table) => {
                if let Some(item) = table.get_mut("base") {
                    *item = toml_edit::value(base.as_str());
                }
            }
            _ => return Err(EditError::NoSeries(project.clone())),
        }
    }
    if !renames.is_empty()
        && let Some(features) = document
            .get_mut("feature")
            .and_then(Item::as_table_like_mut)
    {
        for (_, feature) in features.iter_mut() {
            let Some(patches) = feature.get_mut("patches").and_then(Item::as_table_like_mut) else {
                continue;
            };
            let keys: Vec<String> = patches.iter().map(|(k, _)| k.to_owned()).collect();
            for key in keys {
                if let Some(Item::Value(Value::Array(needs))) = patches.get_mut(&key) {
                    for need in needs.iter_mut() {
                        if let Some(new) = need.as_str().and_then(|old| renames.get(old)) {
                            let decor = need.decor().clone();
                            *need = Value::from(new.as_str());
                            *need.decor_mut() = decor;
                        }
                    }
                }
                if let Some(new) = renames.get(&key)
                    && let Some(item) = patches.remove(&key)
                {
                    patches.insert(new, item);
                }
            }
        }
    }
    Ok(document.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landed_patches_leave_their_features_and_an_emptied_feature_goes() {
        let text = "[feature.f.patches]\n\"libvirt/a\" = [\"qemu/b\", \"qemu/c\"]  # keep\n\"qemu/c\" = []\n\n[feature.g]\ndeadline = \"2027-01-01\"\n[feature.g.patches]\n\"qemu/b\" = []\n";
        let edit = ManifestEdit {
            removed: BTreeSet::from(["qemu/b".to_owned()]),
            ..ManifestEdit::default()
        };
        let (edited, gone) = edit_manifest(text, &edit).expect("edits");
        assert_eq!(gone, ["g"]);
        assert_eq!(
            edited,
            "[feature.f.patches]\n\"libvirt/a\" = [\"qemu/c\"]  # keep\n\"qemu/c\" = []\n"
        );
    }

    #[test]
    fn bases_and_renames_change_and_nothing_else_does() {
        let text = "# platform\n[project.qemu]\nrepo = \"r\"   # where\nseries = { branch = \"b\", base = \"v1\" }  # pinned\n\n[project.libvirt]\n[project.libvirt.series]\ndir = \"p\"\nbase = \"v2\"\n\n[feature.f.patches]\n\"libvirt/0002-x\" = [\"qemu/y\"]   # needs\n\"nova/z\" = [\"libvirt/0002-x\"]\n";
        let bases = BTreeMap::from([
            ("qemu".to_owned(), "abc".to_owned()),
            ("libvirt".to_owned(), "def".to_owned()),
        ]);
        let renames = BTreeMap::from([("libvirt/0002-x".to_owned(), "libvirt/0001-x".to_owned())]);
        let edited = update_manifest(text, &bases, &renames).expect("edits");
        assert_eq!(
            edited,
            "# platform\n[project.qemu]\nrepo = \"r\"   # where\nseries = { branch = \"b\", base = \"abc\" }  # pinned\n\n[project.libvirt]\n[project.libvirt.series]\ndir = \"p\"\nbase = \"def\"\n\n[feature.f.patches]\n\"nova/z\" = [\"libvirt/0001-x\"]\n\"libvirt/0001-x\" = [\"qemu/y\"]   # needs\n"
        );
    }
}
