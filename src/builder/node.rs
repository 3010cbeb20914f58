//! Node.js and Bun detection (pure): package manager, install, build and start commands, version.

use super::recipe::{procfile_web, Listing, PlanError, Recipe, Runtime};
use serde_json::Value;

/// The current Node.js LTS line, used when the repo names no version.
pub(crate) const NODE_LTS: &str = "22";
pub(crate) const BUN_DEFAULT: &str = "1";

pub(crate) fn package_json(listing: &Listing) -> Option<Value> {
    serde_json::from_str(listing.read("package.json")?).ok()
}

pub(crate) fn can_start(pkg: &Value) -> bool {
    pkg["scripts"]["start"].is_string() || pkg["main"].is_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Manager {
    Npm,
    Pnpm,
    YarnClassic,
    YarnBerry,
    Bun,
}

impl Manager {
    fn name(self) -> &'static str {
        match self {
            Manager::Npm => "npm",
            Manager::Pnpm => "pnpm",
            Manager::YarnClassic | Manager::YarnBerry => "yarn",
            Manager::Bun => "bun",
        }
    }

    fn run(self, script: &str) -> String {
        match self {
            Manager::Npm => format!("npm run {script}"),
            Manager::Bun => format!("bun run {script}"),
            m => format!("{} {script}", m.name()),
        }
    }

    fn lockfiles(self) -> &'static [&'static str] {
        match self {
            Manager::Npm => &["package-lock.json", "npm-shrinkwrap.json"],
            Manager::Pnpm => &["pnpm-lock.yaml"],
            Manager::YarnClassic => &["yarn.lock"],
            Manager::YarnBerry => &["yarn.lock", ".yarnrc.yml"],
            Manager::Bun => &["bun.lock", "bun.lockb"],
        }
    }

    /// Installs with a frozen lockfile whenever the repo has one.
    fn install(self, listing: &Listing) -> String {
        let locked = self.lockfiles().iter().any(|f| listing.has(f) && !f.starts_with(".yarnrc"));
        match (self, locked) {
            (Manager::Npm, true) => "npm ci".into(),
            (Manager::Npm, false) => "npm install".into(),
            (Manager::Pnpm, true) => "corepack enable && pnpm install --frozen-lockfile".into(),
            (Manager::Pnpm, false) => "corepack enable && pnpm install".into(),
            (Manager::YarnClassic, true) => "yarn install --frozen-lockfile".into(),
            (Manager::YarnClassic, false) => "yarn install".into(),
            (Manager::YarnBerry, true) => "corepack enable && yarn install --immutable".into(),
            (Manager::YarnBerry, false) => "corepack enable && yarn install".into(),
            (Manager::Bun, true) => "bun install --frozen-lockfile".into(),
            (Manager::Bun, false) => "bun install".into(),
        }
    }
}

/// `packageManager` → pnpm lock → bun lock → `.yarnrc.yml` (Berry) → yarn.lock → npm.
fn manager(listing: &Listing, pkg: &Value) -> Manager {
    if let Some(field) = pkg["packageManager"].as_str() {
        let (name, version) = field.split_once('@').unwrap_or((field, ""));
        match name {
            "pnpm" => return Manager::Pnpm,
            "bun" => return Manager::Bun,
            "npm" => return Manager::Npm,
            "yarn" if version.starts_with('1') => return Manager::YarnClassic,
            "yarn" => return Manager::YarnBerry,
            _ => {}
        }
    }
    if listing.has("pnpm-lock.yaml") {
        Manager::Pnpm
    } else if listing.has("bun.lock") || listing.has("bun.lockb") {
        Manager::Bun
    } else if listing.has(".yarnrc.yml") {
        Manager::YarnBerry
    } else if listing.has("yarn.lock") {
        Manager::YarnClassic
    } else {
        Manager::Npm
    }
}

fn runs_bun(pkg: &Value) -> bool {
    pkg["scripts"]["start"].as_str().is_some_and(|s| s.split_whitespace().next() == Some("bun"))
}

pub(crate) fn recipe(listing: &Listing, force_bun: bool) -> Result<Recipe, PlanError> {
    let pkg = package_json(listing).unwrap_or(Value::Null);
    let mut pm = manager(listing, &pkg);
    let bun = force_bun || pm == Manager::Bun || runs_bun(&pkg);
    if bun {
        pm = Manager::Bun;
    }
    let start = start_command(listing, &pkg, pm, bun)?;
    let mut dependency_files: Vec<String> =
        ["package.json"].iter().chain(pm.lockfiles()).filter(|f| listing.has(f)).map(|f| f.to_string()).collect();
    if pm == Manager::YarnBerry && listing.has(".yarn/releases") {
        dependency_files.push(".yarn".into());
    }
    Ok(Recipe {
        runtime: if bun { Runtime::Bun } else { Runtime::Node },
        package_manager: Some(pm.name().into()),
        version: if bun { BUN_DEFAULT.into() } else { node_version(listing, &pkg) },
        install: pm.install(listing),
        build: pkg["scripts"]["build"].is_string().then(|| pm.run("build")),
        start,
        dependency_files,
        notes: Vec::new(),
    })
}

/// Procfile `web:` → `scripts.start` → `main` → server.js / index.js (index.ts for Bun).
fn start_command(listing: &Listing, pkg: &Value, pm: Manager, bun: bool) -> Result<String, PlanError> {
    if let Some(web) = procfile_web(listing) {
        return Ok(web);
    }
    if pkg["scripts"]["start"].is_string() {
        return Ok(if pm == Manager::Bun { "bun run start".into() } else { format!("{} start", pm.name()) });
    }
    let engine = if bun { "bun" } else { "node" };
    if let Some(main) = pkg["main"].as_str() {
        return Ok(format!("{engine} {main}"));
    }
    let candidates: &[&str] =
        if bun { &["server.js", "index.js", "index.ts", "server.ts"] } else { &["server.js", "index.js"] };
    match candidates.iter().find(|f| listing.has(f)) {
        Some(file) => Ok(format!("{engine} {file}")),
        None => Err(PlanError::NoStart(
            "package.json has no `start` script and no `main`, and there is no server.js or index.js: add \"scripts\": {\"start\": \"node yourserver.js\"}".into(),
        )),
    }
}

/// `engines.node` → `.nvmrc` → `.node-version` → the LTS; reduced to its major version for the image tag.
fn node_version(listing: &Listing, pkg: &Value) -> String {
    let declared = pkg["engines"]["node"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| listing.read(".nvmrc").map(str::to_owned))
        .or_else(|| listing.read(".node-version").map(str::to_owned));
    declared.and_then(|v| major(&v)).unwrap_or_else(|| NODE_LTS.into())
}

/// The first run of digits: `>=18.2` → 18, `v20.1.0` → 20, `lts/*` → none.
pub(crate) fn major(text: &str) -> Option<String> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    Some(digits)
}
