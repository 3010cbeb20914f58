//! The build context: a tar of the checked-out directory, honouring `.dockerignore` and never sending `.git`.

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ContextError {
    #[error("the build context {0} does not exist; check build_context")]
    Missing(PathBuf),
    #[error("no Dockerfile at `{path}` in the build context. Add one, or set the project's dockerfile path")]
    NoDockerfile { path: String },
    #[error("`{0}` is outside the repository; build_context and dockerfile must be paths inside it")]
    Escapes(String),
    #[error("`{0}` is a symlink that leads outside the repository, and nothing outside a checkout is read: make it a regular file, or a link to a file inside the repository")]
    LeadsOutside(String),
    #[error("the build context is larger than [build] max_context_mb = {0} MiB; list what the image does not need in .dockerignore, or raise the limit")]
    TooLarge(u64),
    #[error("cannot pack the build context: {0}")]
    Io(#[from] std::io::Error),
}

/// A path inside `root`, refusing `..` and absolute paths.
pub(crate) fn inside(root: &Path, relative: &str) -> Result<PathBuf, ContextError> {
    let rel = Path::new(relative);
    let escapes = rel.is_absolute() || rel.components().any(|c| matches!(c, std::path::Component::ParentDir));
    if escapes {
        return Err(ContextError::Escapes(relative.to_owned()));
    }
    Ok(root.join(rel))
}

/// Refuses `path` when it, or a directory on its way, is a symlink leading outside `root` (the checkout):
/// a pushed repository must never make the gateway read or send a file of the host. A path that does not
/// exist passes (the caller says what is missing); `name` is how the error names it.
pub(crate) fn contained(root: &Path, path: &Path, name: &str) -> Result<(), ContextError> {
    if path.symlink_metadata().is_err() {
        return Ok(());
    }
    let root = root.canonicalize()?;
    match path.canonicalize() {
        Ok(real) if real.starts_with(&root) => Ok(()),
        _ => Err(ContextError::LeadsOutside(name.to_owned())),
    }
}

/// Docker reads `.dockerignore` patterns relative to the context root, so each is anchored there.
fn dockerignore(dir: &Path, generated: Option<&str>) -> Result<Gitignore, ContextError> {
    let mut builder = GitignoreBuilder::new(dir);
    contained(dir, &dir.join(".dockerignore"), ".dockerignore")?;
    let text = std::fs::read_to_string(dir.join(".dockerignore")).ok().or(generated.map(str::to_owned));
    if let Some(text) = text {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (negated, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, line),
            };
            let pattern = pattern.trim_start_matches("./").trim_start_matches('/');
            let anchored = if pattern.starts_with("**") { pattern.to_owned() } else { format!("/{pattern}") };
            let _ = builder.add_line(None, &format!("{}{anchored}", if negated { "!" } else { "" }));
        }
    }
    Ok(builder.build().unwrap_or_else(|_| Gitignore::empty()))
}

/// Tars `dir` for the Docker build API. `dockerfile` (relative to `dir`) must exist, on disk or among
/// `generated`, and is always sent. `generated` files (a generated Dockerfile, a default `.dockerignore`)
/// go into the archive only; the checkout is never written. A repo's own `.dockerignore` wins.
/// Files are counted as they are added: past `max_mb` MiB it stops, before Docker sees any of it.
pub(crate) fn pack(
    dir: &Path,
    dockerfile: &str,
    generated: &[(&str, String)],
    max_mb: u64,
) -> Result<Vec<u8>, ContextError> {
    if !dir.is_dir() {
        return Err(ContextError::Missing(dir.to_owned()));
    }
    let in_generated = |name: &str| generated.iter().find(|(n, _)| *n == name).map(|(_, text)| text.as_str());
    if in_generated(dockerfile).is_none() {
        let path = inside(dir, dockerfile)?;
        contained(dir, &path, dockerfile)?;
        if !path.is_file() {
            return Err(ContextError::NoDockerfile { path: dockerfile.to_owned() });
        }
    }
    let ignore = dockerignore(dir, in_generated(".dockerignore"))?;
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    let mut packer =
        Packer { root: dir, ignore: &ignore, dockerfile: Path::new(dockerfile), left: max_mb << 20, max_mb };
    packer.add_dir(&mut tar, dir)?;
    for (name, text) in generated {
        if *name == ".dockerignore" && dir.join(name).exists() {
            continue;
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, text.as_bytes())?;
    }
    Ok(tar.into_inner()?)
}

/// Walks the context into the archive, counting what it adds against the limit.
struct Packer<'a> {
    root: &'a Path,
    ignore: &'a Gitignore,
    dockerfile: &'a Path,
    /// Bytes that may still be added, of `max_mb` MiB.
    left: u64,
    max_mb: u64,
}

impl Packer<'_> {
    fn add_dir(&mut self, tar: &mut tar::Builder<Vec<u8>>, dir: &Path) -> Result<(), ContextError> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let rel = path.strip_prefix(self.root).unwrap_or(&path);
            let kind = entry.file_type()?;
            if rel == Path::new(".git") {
                continue;
            }
            let ignored = self.ignore.matched_path_or_any_parents(rel, kind.is_dir()).is_ignore();
            if kind.is_dir() {
                // An ignored directory may still hold a `!`-re-included file, so walk it anyway.
                self.add_dir(tar, &path)?;
            } else if !ignored || rel == self.dockerfile || rel == Path::new(".dockerignore") {
                // A symlink goes in as a link (never followed): its length is the link's own.
                let size = entry.metadata()?.len();
                self.left = self.left.checked_sub(size).ok_or(ContextError::TooLarge(self.max_mb))?;
                tar.append_path_with_name(&path, rel)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tar);
        let mut names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn dockerignore_is_honoured_and_git_never_sent() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            "Dockerfile",
            "app.js",
            "secret.env",
            "logs/a.log",
            "node_modules/x/y.js",
            "docs/keep.md",
            "sub/secret.env",
            ".git/HEAD",
        ];
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        std::fs::write(
            dir.path().join(".dockerignore"),
            "# comment\nnode_modules\n*.env\nlogs/\ndocs\n!docs/keep.md\nDockerfile\n",
        )
        .unwrap();
        let sent = names(&pack(dir.path(), "Dockerfile", &[], 1024).unwrap());
        assert_eq!(sent, [".dockerignore", "Dockerfile", "app.js", "docs/keep.md", "sub/secret.env"]);
    }

    #[test]
    fn a_missing_dockerfile_or_an_escaping_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(pack(dir.path(), "Dockerfile", &[], 1024), Err(ContextError::NoDockerfile { .. })));
        assert!(matches!(pack(dir.path(), "../Dockerfile", &[], 1024), Err(ContextError::Escapes(_))));
        assert!(matches!(inside(dir.path(), "/etc"), Err(ContextError::Escapes(_))));
        assert!(matches!(pack(&dir.path().join("nope"), "Dockerfile", &[], 1024), Err(ContextError::Missing(_))));
    }

    #[test]
    fn generated_files_go_into_the_archive_and_never_onto_disk() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["index.js", "node_modules/x.js", ".venv/bin/python"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let generated = [
            (".versiongate.Dockerfile", "FROM x\n".to_owned()),
            (".dockerignore", crate::builder::DOCKERIGNORE.to_owned()),
        ];
        let sent = names(&pack(dir.path(), ".versiongate.Dockerfile", &generated, 1024).unwrap());
        assert_eq!(sent, [".dockerignore", ".versiongate.Dockerfile", "index.js"]);
        assert!(!dir.path().join(".versiongate.Dockerfile").exists() && !dir.path().join(".dockerignore").exists());
    }

    #[test]
    fn links_inside_pass_links_outside_are_named_and_the_size_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real.txt"), "x").unwrap();
        std::os::unix::fs::symlink("real.txt", dir.path().join("inner")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("outer")).unwrap();
        std::os::unix::fs::symlink("/nowhere/at/all", dir.path().join("dangling")).unwrap();
        assert!(contained(dir.path(), &dir.path().join("inner"), "inner").is_ok());
        assert!(contained(dir.path(), &dir.path().join("absent"), "absent").is_ok(), "absent: said elsewhere");
        for name in ["outer", "dangling"] {
            let e = contained(dir.path(), &dir.path().join(name), name).unwrap_err();
            assert!(e.to_string().starts_with(&format!("`{name}` is a symlink that leads outside")), "{e}");
        }
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.path().join("big.bin"), vec![7u8; (1 << 20) + 1]).unwrap();
        assert!(matches!(pack(dir.path(), "Dockerfile", &[], 1), Err(ContextError::TooLarge(1))));
        assert!(pack(dir.path(), "Dockerfile", &[], 2).is_ok(), "links go in as links, never followed");
    }
}
