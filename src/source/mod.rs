//! Getting one commit of a repo onto disk (git2): one clone per project, fetch, exact checkout, submodules.
//!
//! Everything here blocks; callers run it on a blocking thread. `cancel` is polled during
//! transfers so a cancelled deployment stops fetching.

mod submodules;

use git2::build::CheckoutBuilder;
use git2::{Cred, CredentialType, FetchOptions, Oid, RemoteCallbacks, Repository};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use submodules::{is_relative, submodule_allowed};

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
    #[error("{what} is larger than max_repo_mb = {limit_mb} MiB; raise the project's max_repo_mb, or make the repository smaller")]
    TooLarge { what: &'static str, limit_mb: u64 },
    #[error("submodule `{path}` has the local URL `{url}`, and only a local repository may use local submodules (git's rule since CVE-2022-39253); give the submodule a remote URL")]
    LocalSubmodule { path: String, url: String },
}

/// What bounds one fetch: the deployment's cancel flag and `max_repo_mb`.
pub(crate) struct Limits<'a> {
    pub(crate) cancel: &'a AtomicBool,
    pub(crate) max_bytes: u64,
    /// The most one transfer received, to tell "too large" from other failures.
    received: AtomicU64,
}

impl<'a> Limits<'a> {
    pub(crate) fn new(cancel: &'a AtomicBool, max_repo_mb: u64) -> Limits<'a> {
        Limits { cancel, max_bytes: max_repo_mb.saturating_mul(1024 * 1024), received: AtomicU64::new(0) }
    }

    fn too_large(&self) -> Option<SourceError> {
        let over = self.received.load(Ordering::SeqCst) > self.max_bytes;
        over.then_some(SourceError::TooLarge { what: "the fetch", limit_mb: self.max_bytes / (1024 * 1024) })
    }
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

/// Fetches every branch and tag of `url` into the clone at `dir` (made on first use), and GitHub's
/// `refs/pull/N/head` of pull request `pull` (which is how a fork's commits reach the base repository).
pub(crate) fn fetch(
    dir: &Path,
    url: &str,
    creds: &Credentials,
    pull: Option<u32>,
    limits: &Limits<'_>,
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
    let mut refspecs = vec!["+refs/heads/*:refs/remotes/origin/*".to_owned(), "+refs/tags/*:refs/tags/*".to_owned()];
    // A number, never text from a payload: the refspec cannot name anything else.
    refspecs.extend(pull.map(|n| format!("+refs/pull/{n}/head:refs/remotes/origin/pull/{n}/head")));
    let mut options = fetch_options(creds, limits);
    let result = remote.fetch(&refspecs, Some(&mut options), None);
    drop(remote);
    match result {
        Ok(()) => Ok(repo),
        Err(_) if limits.cancel.load(Ordering::SeqCst) => Err(SourceError::Cancelled),
        Err(_) if limits.too_large().is_some() => Err(limits.too_large().unwrap_or(SourceError::Cancelled)),
        Err(e) => Err(SourceError::Fetch { url: url.to_owned(), message: e.message().to_owned() }.or_disk_full()),
    }
}

fn fetch_options<'a>(creds: &'a Credentials, limits: &'a Limits<'_>) -> FetchOptions<'a> {
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
    // Returning false aborts the transfer: on cancel, and once more than max_repo_mb has arrived.
    callbacks.transfer_progress(move |progress| {
        let received = progress.received_bytes() as u64;
        limits.received.fetch_max(received, Ordering::SeqCst);
        !limits.cancel.load(Ordering::SeqCst) && received <= limits.max_bytes
    });
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

/// Checks out exactly `commit` (detached, forced, untracked files removed) and its submodules. The files'
/// sizes are added up from the object headers first, so a small repository that inflates into a huge
/// checkout is refused before anything is written.
pub(crate) fn checkout(
    repo: &Repository,
    commit: &str,
    url: &str,
    creds: &Credentials,
    limits: &Limits<'_>,
) -> Result<(), SourceError> {
    let err = |e: git2::Error| {
        SourceError::Checkout { commit: commit.to_owned(), message: e.message().to_owned() }.or_disk_full()
    };
    let oid = Oid::from_str(commit).map_err(err)?;
    let found = repo.find_commit(oid).map_err(err)?;
    if tree_bytes(repo, &found.tree().map_err(err)?, limits.max_bytes).map_err(err)? > limits.max_bytes {
        return Err(SourceError::TooLarge { what: "the checkout", limit_mb: limits.max_bytes / (1024 * 1024) });
    }
    let object = found.into_object();
    repo.checkout_tree(&object, Some(CheckoutBuilder::new().force().remove_untracked(true))).map_err(err)?;
    repo.set_head_detached(oid).map_err(err)?;
    update_submodules(repo, url, creds, limits).map_err(|e| match e {
        Nested::Git(e) => err(e),
        Nested::Refused(e) => e,
    })
}

/// The files of `tree` added up, stopping once past `cap`.
fn tree_bytes(repo: &Repository, tree: &git2::Tree<'_>, cap: u64) -> Result<u64, git2::Error> {
    let odb = repo.odb()?;
    let mut total = 0u64;
    let mut failure = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
        if entry.kind() != Some(git2::ObjectType::Blob) {
            return git2::TreeWalkResult::Ok;
        }
        match odb.read_header(entry.id()) {
            Ok((size, _)) => total = total.saturating_add(size as u64),
            Err(e) => failure = Some(e),
        }
        if total > cap || failure.is_some() {
            git2::TreeWalkResult::Abort
        } else {
            git2::TreeWalkResult::Ok
        }
    })
    .or_else(|e| if total > cap { Ok(()) } else { Err(e) })?;
    failure.map_or(Ok(total), Err)
}

enum Nested {
    Git(git2::Error),
    Refused(SourceError),
}

impl From<git2::Error> for Nested {
    fn from(e: git2::Error) -> Self {
        Nested::Git(e)
    }
}

fn update_submodules(repo: &Repository, url: &str, creds: &Credentials, limits: &Limits<'_>) -> Result<(), Nested> {
    for mut sub in repo.submodules()? {
        let sub_url = sub.url().ok().flatten().unwrap_or_default().to_owned();
        if !submodule_allowed(url, &sub_url) {
            let path = sub.path().display().to_string();
            return Err(Nested::Refused(SourceError::LocalSubmodule { path, url: sub_url }));
        }
        let mut options = git2::SubmoduleUpdateOptions::new();
        options.fetch(fetch_options(creds, limits));
        sub.update(true, Some(&mut options))?;
        if let Ok(inner) = sub.open() {
            // A relative URL is relative to its parent's: it is as local as the parent.
            let inner_url = if is_relative(&sub_url) { url.to_owned() } else { sub_url };
            update_submodules(&inner, &inner_url, creds, limits)?;
        }
    }
    Ok(())
}
