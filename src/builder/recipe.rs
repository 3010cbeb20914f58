//! What a plan is made of (pure): the repository listing, the options, the language-specific recipe and
//! the plan's errors. Shared by the planner ([`super::plan`]) and the language rules (node, python,
//! dockerfile), which never import the planner.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What the planner may see of a repository: every path, and the contents of the few files it reads.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub files: BTreeSet<String>,
    pub contents: BTreeMap<String, String>,
}

impl Listing {
    pub(crate) fn has(&self, path: &str) -> bool {
        self.files.contains(path)
    }
    pub(crate) fn read(&self, path: &str) -> Option<&str> {
        self.contents.get(path).map(String::as_str)
    }
    /// Builds a listing from `(path, contents)` pairs; for tests and `detect`.
    pub fn of(files: &[(&str, &str)]) -> Listing {
        let mut listing = Listing::default();
        for (path, text) in files {
            listing.files.insert(path.to_string());
            listing.contents.insert(path.to_string(), text.to_string());
        }
        listing
    }
}

/// Whether a path's contents are read: manifests, version files, Procfile, and Python sources.
pub(crate) fn wants_contents(path: &str) -> bool {
    const NAMED: [&str; 11] = [
        "package.json",
        "Procfile",
        ".nvmrc",
        ".node-version",
        ".python-version",
        "runtime.txt",
        "requirements.txt",
        "pyproject.toml",
        "Pipfile",
        "manage.py",
        "Dockerfile",
    ];
    NAMED.contains(&path) || (path.ends_with(".py") && path.matches('/').count() <= 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Builder {
    #[default]
    Auto,
    Dockerfile,
    Node,
    Bun,
    Python,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Runtime {
    Node,
    Bun,
    Python,
    Dockerfile,
}

/// Base image templates; `{version}` is replaced by the detected version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaseImages {
    pub(crate) node_image: String,
    pub(crate) bun_image: String,
    pub(crate) python_image: String,
    /// `[build] max_context_mb`: a larger build context is refused before it reaches Docker.
    pub(crate) max_context_mb: u64,
}

impl Default for BaseImages {
    fn default() -> Self {
        BaseImages {
            node_image: "node:{version}-slim".into(),
            bun_image: "oven/bun:{version}-slim".into(),
            python_image: "python:{version}-slim".into(),
            max_context_mb: 1024,
        }
    }
}

/// What the project says about building.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub(crate) builder: Builder,
    pub(crate) start_command: String,
    /// The project's `dockerfile` path; non-empty means it always wins.
    pub dockerfile: String,
    pub(crate) container_port: u16,
    pub(crate) images: BaseImages,
}
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("nothing to build: no Dockerfile, no package.json and no Python project file (requirements.txt, pyproject.toml, Pipfile, *.py). Add a Dockerfile, or a package.json with a `start` script")]
    NothingDetected,
    #[error("{0}")]
    NoStart(String),
    #[error("builder = \"dockerfile\", but there is no Dockerfile; add one or set builder = \"auto\"")]
    NoDockerfile,
}

/// The language-specific part of a plan, before the Dockerfile is rendered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recipe {
    pub(crate) runtime: Runtime,
    pub(crate) package_manager: Option<String>,
    pub(crate) version: String,
    pub(crate) install: String,
    pub(crate) build: Option<String>,
    pub(crate) start: String,
    /// Dependency files copied before the install, for layer caching; empty means copy everything first.
    pub(crate) dependency_files: Vec<String>,
    pub(crate) notes: Vec<String>,
}

/// The `web:` command of a Procfile, if any.
pub(crate) fn procfile_web(listing: &Listing) -> Option<String> {
    let text = listing.read("Procfile")?;
    text.lines().find_map(|l| l.trim().strip_prefix("web:")).map(|c| c.trim().to_owned()).filter(|c| !c.is_empty())
}
