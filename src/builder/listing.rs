//! Reading a checkout into a [`Listing`] for the planner: every path (bounded), and the files it reads.

use super::context::{contained, ContextError};
use super::recipe::{wants_contents, Listing};
use std::path::Path;

const MAX_FILES: usize = 20_000;
const MAX_READ: u64 = 256 * 1024;
const SKIP_DIRS: [&str; 5] = [".git", "node_modules", ".venv", "__pycache__", "target"];

/// Lists `dir` (skipping VCS and dependency folders) and reads the files the planner looks at; one of those
/// that is a symlink leading outside `dir` is refused by name.
pub(crate) fn read(dir: &Path) -> Result<Listing, ContextError> {
    let mut listing = Listing::default();
    walk(dir, dir, &mut listing)?;
    Ok(listing)
}

fn walk(root: &Path, dir: &Path, listing: &mut Listing) -> Result<(), ContextError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if listing.files.len() >= MAX_FILES {
            return Ok(());
        }
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !SKIP_DIRS.contains(&entry.file_name().to_string_lossy().as_ref()) {
                listing.files.insert(rel.clone());
                walk(root, &path, listing)?;
            }
            continue;
        }
        if wants_contents(&rel) && kind.is_symlink() {
            contained(root, &path, &rel)?;
        }
        if wants_contents(&rel) && std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() <= MAX_READ) {
            if let Ok(text) = std::fs::read_to_string(&path) {
                listing.contents.insert(rel.clone(), text);
            }
        }
        listing.files.insert(rel);
    }
    Ok(())
}
