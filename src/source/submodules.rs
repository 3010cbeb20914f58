//! Which submodule URLs a repository may use (pure): git's rule since CVE-2022-39253.

pub(super) fn is_relative(url: &str) -> bool {
    url.starts_with("./") || url.starts_with("../")
}

/// Whether `url` names a repository on this host (pure): `file:` URLs and paths. `scheme://` URLs and
/// scp-like `host:path` are remote; a relative URL is as local as its parent, so callers decide that.
fn is_local(url: &str) -> bool {
    if url.starts_with("file:") || url.starts_with('/') || url.starts_with('~') {
        return true;
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return scheme.is_empty();
    }
    // scp-like `user@host:path`: a colon before the first slash.
    let colon = url.find(':');
    colon.is_none_or(|c| url.find('/').is_some_and(|slash| c >= slash))
}

/// git's rule since CVE-2022-39253 (`protocol.file.allow=user`), pure: a submodule may be local only when
/// the repository holding it is.
pub(super) fn submodule_allowed(parent: &str, submodule: &str) -> bool {
    is_local(parent) || is_relative(submodule) || !is_local(submodule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_submodules_only_in_local_repositories() {
        let remote = "https://github.com/octo/app.git";
        for sub in
            ["https://github.com/octo/lib.git", "git@github.com:octo/lib.git", "ssh://git@host/lib", "../lib.git"]
        {
            assert!(submodule_allowed(remote, sub), "{sub}");
        }
        for sub in ["file:///etc", "/var/lib/versiongate/repos/other", "~/secret", "other-dir", "file:lib"] {
            assert!(!submodule_allowed(remote, sub), "{sub}");
        }
        for sub in ["file:///srv/lib.git", "/srv/lib.git", "../lib.git", "https://github.com/octo/lib.git"] {
            assert!(submodule_allowed("file:///srv/app.git", sub), "{sub}");
            assert!(submodule_allowed("/srv/app.git", sub), "{sub}");
        }
        assert!(!submodule_allowed("git@github.com:octo/app.git", "/etc/passwd-repo"));
    }
}
