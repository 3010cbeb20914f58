//! The build plan (pure): from a repository listing to runtime, package manager, commands and a Dockerfile.

pub use super::recipe::{BaseImages, Builder, Listing, PlanError, PlanOptions};
use super::recipe::{Recipe, Runtime};
use super::{dockerfile, node, python};
use serde::Serialize;

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
