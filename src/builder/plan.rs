//! The build plan (pure): from a repository listing to runtime, package manager, commands and a Dockerfile.

use super::{dockerfile, node, python};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
}

impl Default for BaseImages {
    fn default() -> Self {
        BaseImages {
            node_image: "node:{version}-slim".into(),
            bun_image: "oven/bun:{version}-slim".into(),
            python_image: "python:{version}-slim".into(),
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildPlan {
    pub(crate) runtime: Runtime,
    pub(crate) package_manager: Option<String>,
    pub(crate) install: String,
    pub(crate) build: Option<String>,
    pub start: String,
    pub dockerfile_source: &'static str,
    /// The Dockerfile's path in the build context.
    #[serde(skip)]
    pub(crate) dockerfile_path: String,
    pub dockerfile: String,
    /// Advice shown with the plan (for example where migrations belong).
    pub(crate) notes: Vec<String>,
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
    pub start: String,
    /// Dependency files copied before the install, for layer caching; empty means copy everything first.
    pub(crate) dependency_files: Vec<String>,
    pub(crate) notes: Vec<String>,
}

/// Decides how to build, by the precedence rules of the README.
pub fn plan(listing: &Listing, options: &PlanOptions) -> Result<BuildPlan, PlanError> {
    if !options.dockerfile.is_empty() {
        return Ok(repo_dockerfile(listing, &options.dockerfile));
    }
    match options.builder {
        Builder::Auto | Builder::Dockerfile if listing.has("Dockerfile") => {
            return Ok(repo_dockerfile(listing, "Dockerfile"))
        }
        Builder::Dockerfile => return Err(PlanError::NoDockerfile),
        _ => {}
    }
    let mut recipe = match options.builder {
        Builder::Node => node::recipe(listing, false)?,
        Builder::Bun => node::recipe(listing, true)?,
        Builder::Python => python::recipe(listing)?,
        _ => auto(listing)?,
    };
    if !options.start_command.trim().is_empty() {
        recipe.start = options.start_command.trim().to_owned();
    }
    let text = dockerfile::render(&recipe, options);
    Ok(BuildPlan {
        runtime: recipe.runtime,
        package_manager: recipe.package_manager,
        install: recipe.install,
        build: recipe.build,
        start: recipe.start,
        dockerfile_source: "generated",
        dockerfile_path: GENERATED_DOCKERFILE.into(),
        dockerfile: text,
        notes: recipe.notes,
    })
}

/// The generated Dockerfile's name inside the build context (the checkout itself is never written).
pub(crate) const GENERATED_DOCKERFILE: &str = ".versiongate.Dockerfile";

fn repo_dockerfile(listing: &Listing, path: &str) -> BuildPlan {
    BuildPlan {
        runtime: Runtime::Dockerfile,
        package_manager: None,
        install: String::new(),
        build: None,
        start: String::new(),
        dockerfile_source: "repo",
        dockerfile_path: path.to_owned(),
        dockerfile: listing.read(path).unwrap_or_default().to_owned(),
        notes: Vec::new(),
    }
}

/// Node or Bun when package.json can start something; else Python on any marker; else Node; else fail.
fn auto(listing: &Listing) -> Result<Recipe, PlanError> {
    if let Some(pkg) = node::package_json(listing) {
        if node::can_start(&pkg) {
            return node::recipe(listing, false);
        }
    }
    if python::detected(listing) {
        return python::recipe(listing);
    }
    if listing.has("package.json") {
        return node::recipe(listing, false);
    }
    Err(PlanError::NothingDetected)
}

/// The `web:` command of a Procfile, if any.
pub(crate) fn procfile_web(listing: &Listing) -> Option<String> {
    let text = listing.read("Procfile")?;
    text.lines().find_map(|l| l.trim().strip_prefix("web:")).map(|c| c.trim().to_owned()).filter(|c| !c.is_empty())
}
