//! Local stand-ins for the official `node` and `python` base images (no registry is reachable):
//! `FROM scratch` images holding the host's own interpreter, its shared libraries, and busybox as `sh`.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Copies `src` (a file or a tree, symlinks kept) to the same absolute path under `root`.
fn copy_in(root: &Path, src: &Path) {
    let dest = root.join(src.strip_prefix("/").unwrap());
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let meta = std::fs::symlink_metadata(src).unwrap();
    if meta.file_type().is_symlink() {
        let _ = symlink(std::fs::read_link(src).unwrap(), &dest);
    } else if meta.is_dir() {
        for entry in std::fs::read_dir(src).unwrap() {
            copy_in(root, &entry.unwrap().path());
        }
    } else {
        std::fs::copy(src, &dest).unwrap();
    }
}

/// A real file (symlinks followed) copied to `at` under `root`.
fn copy_as(root: &Path, src: &Path, at: &str) {
    let dest = root.join(at.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(std::fs::canonicalize(src).unwrap(), dest).unwrap();
}

/// The shared libraries `binary` loads, as `ldd` reports them (the loader included).
fn libraries(binary: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(binary).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with('/')).map(PathBuf::from))
        .collect()
}

fn link(root: &Path, at: &str, target: &str) {
    let path = root.join(at.trim_start_matches('/'));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let _ = symlink(target, path);
}

/// Builds `tag` from a rootfs holding `binary` (at `binary_at`), its libraries, `trees`, and busybox.
fn build(
    tag: &str,
    binary: &Path,
    binary_at: &str,
    trees: &[PathBuf],
    links: &[(&str, &str)],
    scripts: &[(&str, &str)],
) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    copy_as(&root, binary, binary_at);
    for lib in libraries(binary) {
        copy_as(&root, &lib, &lib.display().to_string());
    }
    for tree in trees {
        copy_in(&root, tree);
    }
    for marker in glob_markers(&root) {
        let _ = std::fs::remove_file(marker);
    }
    copy_as(&root, Path::new(super::repo::BUSYBOX), "/bin/busybox");
    for (at, target) in [("/bin/sh", "/bin/busybox"), ("/usr/bin/env", "/bin/busybox")].iter().chain(links) {
        link(&root, at, target);
    }
    for (at, text) in scripts {
        let path = root.join(at.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::create_dir_all(root.join("root")).unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY rootfs/ /\n").unwrap();
    let out = Command::new("docker").args(["build", "-q", "-t", tag]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "building {tag}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The host's `node` and `npm`, as `tag`.
pub fn node(tag: &str) {
    let node = which("node");
    let npm_cli = std::fs::canonicalize(which("npm")).unwrap(); // …/npm/bin/npm-cli.js
    let npm_dir = npm_cli.parent().unwrap().parent().unwrap().to_owned();
    let npm_link = npm_cli.display().to_string();
    build(tag, &node, "/usr/local/bin/node", &[npm_dir], &[("/usr/local/bin/npm", npm_link.as_str())], &[]);
}

/// The host's `python3` with its standard library and pip, as `tag`.
pub fn python(tag: &str) {
    let python = std::fs::canonicalize(which("python3")).unwrap();
    let version = python.file_name().unwrap().to_string_lossy().into_owned(); // python3.11
    let stdlib = PathBuf::from(format!("/usr/lib/{version}"));
    let trees = [stdlib, PathBuf::from("/usr/lib/python3/dist-packages")];
    let links = [("/usr/local/bin/python3", "/usr/bin/python3"), ("/usr/local/bin/python", "/usr/bin/python3")];
    // pip as a command; Debian's "externally managed" marker is left out (this image is its own environment).
    let pip = [("/usr/local/bin/pip", "#!/bin/sh\nexec python3 -m pip \"$@\"\n")];
    build(tag, &python, "/usr/bin/python3", &trees, &links, &pip);
}

/// Debian's PEP 668 markers, which would make pip refuse to install.
fn glob_markers(root: &Path) -> Vec<PathBuf> {
    let lib = root.join("usr/lib");
    std::fs::read_dir(&lib)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path().join("EXTERNALLY-MANAGED")).filter(|p| p.exists()).collect())
        .unwrap_or_default()
}

fn which(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed on the host; scripts/test installs it")
}
