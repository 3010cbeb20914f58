//! Getting one commit of a repo onto disk (git2): one clone per project, fetch, exact checkout, submodules.
//!
//! Everything here blocks; callers run it on a blocking thread. `cancel` is polled during
//! transfers so a cancelled deployment stops fetching.

use git2::build::CheckoutBuilder;
use git2::{Cred, CredentialType, FetchOptions, Oid, RemoteCallbacks, Repository};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    #[error("cannot fetch {url}: {message}. Check repo_url and, for a private repository, git_ssh_key or git_token")]
    Fetch { url: String, message: String },
    #[error("`{git_ref}` is not a branch, tag or commit of {url}; push it first, or deploy another ref")]
    UnknownRef { git_ref: String, url: String },
    #[error("cannot check out {commit}: {message}")]
    Checkout { commit: String, message: String },
    #[error("cannot prepare the work directory {path}: {message}. Check that data_dir is writable")]
    WorkDir { path: PathBuf, message: String },
    #[error("the disk is full: {message}. Free space on the disk holding data_dir (old images: `docker image prune`), then push again")]
    DiskFull { message: String },
    #[error("cancelled while fetching")]
    Cancelled,
}

impl SourceError {
    /// Any step can hit a full disk; that one cause gets its own message, whatever the step.
    fn or_disk_full(self) -> SourceError {
        let message = match &self {
            SourceError::Fetch { message, .. }
            | SourceError::Checkout { message, .. }
            | SourceError::WorkDir { message, .. } => message,
            _ => return self,
        };
        // ENOSPC, as libgit2 and std spell it.
        if message.contains("No space left on device") || message.contains("os error 28") {
            SourceError::DiskFull { message: message.clone() }
        } else {
            self
        }
    }
}

/// How to authenticate to a private repository.
#[derive(Debug, Clone, Default)]
pub(crate) struct Credentials {
    /// A deploy key file, for ssh URLs.
    pub(crate) ssh_key: Option<PathBuf>,
    /// A token for https URLs (GitHub: a fine-grained token with read access to contents).
    pub(crate) token: Option<String>,
}

/// Bounds every git network call, so a server that accepts and then never answers cannot hold a
/// blocking thread forever (libgit2 waits without limit by default). Call once, before any fetch.
#[allow(unsafe_code)]
pub(crate) fn limit_network_waits(connect: std::time::Duration, io: std::time::Duration) {
    let ms = |d: std::time::Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: libgit2 reads these globals at connection time; they are set once at startup, before
    // any thread fetches, which is the condition git2 documents for these setters.
    unsafe {
        let connect = git2::opts::set_server_connect_timeout_in_milliseconds(ms(connect));
        let io = git2::opts::set_server_timeout_in_milliseconds(ms(io));
        if let Err(e) = connect.and(io) {
            tracing::warn!("cannot limit git network waits: {e}");
        }
    }
}

/// Fetches every branch and tag of `url` into the clone at `dir` (made on first use).
pub(crate) fn fetch(
    dir: &Path,
    url: &str,
    creds: &Credentials,
    cancel: &AtomicBool,
) -> Result<Repository, SourceError> {
    let work_err = |e: &dyn std::fmt::Display| {
        SourceError::WorkDir { path: dir.to_owned(), message: e.to_string() }.or_disk_full()
    };
    std::fs::create_dir_all(dir).map_err(|e| work_err(&e))?;
    let repo = match Repository::open(dir) {
        Ok(repo) => repo,
        Err(_) => Repository::init(dir).map_err(|e| work_err(&e))?,
    };
    match repo.find_remote("origin") {
        Ok(remote) if remote.url().ok() == Some(url) => {}
        Ok(_) => repo.remote_set_url("origin", url).map_err(|e| work_err(&e))?,
        Err(_) => drop(repo.remote("origin", url).map_err(|e| work_err(&e))?),
    }
    let mut remote = repo.find_remote("origin").map_err(|e| work_err(&e))?;
    let refspecs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"];
    let mut options = fetch_options(creds, cancel);
    let result = remote.fetch(&refspecs, Some(&mut options), None);
    drop(remote);
    match result {
        Ok(()) => Ok(repo),
        Err(_) if cancel.load(Ordering::SeqCst) => Err(SourceError::Cancelled),
        Err(e) => Err(SourceError::Fetch { url: url.to_owned(), message: e.message().to_owned() }.or_disk_full()),
    }
}

fn fetch_options<'a>(creds: &'a Credentials, cancel: &'a AtomicBool) -> FetchOptions<'a> {
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(move |_url, user, allowed| {
        if allowed.contains(CredentialType::SSH_KEY) {
            if let Some(key) = &creds.ssh_key {
                return Cred::ssh_key(user.unwrap_or("git"), None, key, None);
            }
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            if let Some(token) = &creds.token {
                return Cred::userpass_plaintext("x-access-token", token);
            }
        }
        Err(git2::Error::from_str("the repository needs credentials and none are configured"))
    });
    callbacks.transfer_progress(move |_| !cancel.load(Ordering::SeqCst));
    let mut options = FetchOptions::new();
    options.remote_callbacks(callbacks);
    options.download_tags(git2::AutotagOption::All);
    options
}

/// A branch, tag, full or short SHA → the full 40-hex commit SHA.
pub(crate) fn resolve(repo: &Repository, git_ref: &str, url: &str) -> Result<String, SourceError> {
    let candidates = [format!("refs/remotes/origin/{git_ref}"), format!("refs/tags/{git_ref}"), git_ref.to_owned()];
    for spec in &candidates {
        if let Ok(object) = repo.revparse_single(spec) {
            if let Ok(commit) = object.peel_to_commit() {
                return Ok(commit.id().to_string());
            }
        }
    }
    Err(SourceError::UnknownRef { git_ref: git_ref.to_owned(), url: url.to_owned() })
}

/// The subject line of a commit, for logs.
pub(crate) fn subject(repo: &Repository, commit: &str) -> Option<String> {
    let oid = Oid::from_str(commit).ok()?;
    repo.find_commit(oid).ok()?.summary().ok().flatten().map(str::to_owned)
}

/// Checks out exactly `commit` (detached, forced, untracked files removed) and its submodules.
pub(crate) fn checkout(
    repo: &Repository,
    commit: &str,
    creds: &Credentials,
    cancel: &AtomicBool,
) -> Result<(), SourceError> {
    let err = |e: git2::Error| {
        SourceError::Checkout { commit: commit.to_owned(), message: e.message().to_owned() }.or_disk_full()
    };
    let oid = Oid::from_str(commit).map_err(err)?;
    let object = repo.find_commit(oid).map_err(err)?.into_object();
    repo.checkout_tree(&object, Some(CheckoutBuilder::new().force().remove_untracked(true))).map_err(err)?;
    repo.set_head_detached(oid).map_err(err)?;
    update_submodules(repo, creds, cancel).map_err(err)
}

fn update_submodules(repo: &Repository, creds: &Credentials, cancel: &AtomicBool) -> Result<(), git2::Error> {
    for mut sub in repo.submodules()? {
        let mut options = git2::SubmoduleUpdateOptions::new();
        options.fetch(fetch_options(creds, cancel));
        sub.update(true, Some(&mut options))?;
        if let Ok(inner) = sub.open() {
            update_submodules(&inner, creds, cancel)?;
        }
    }
    Ok(())
}
