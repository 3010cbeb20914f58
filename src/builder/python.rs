//! Python detection (pure): package manager, install and start commands, version.

use super::recipe::{procfile_web, Listing, PlanError, Recipe, Runtime};

pub(crate) const PYTHON_DEFAULT: &str = "3.12";

const MARKERS: [&str; 8] =
    ["requirements.txt", "pyproject.toml", "Pipfile", "uv.lock", "poetry.lock", "pdm.lock", "setup.py", "manage.py"];

pub(crate) fn detected(listing: &Listing) -> bool {
    MARKERS.iter().any(|m| listing.has(m)) || listing.files.iter().any(|f| f.ends_with(".py") && !f.contains('/'))
}

/// uv → poetry → pdm → requirements.txt → Pipfile → pyproject.toml.
fn manager(listing: &Listing) -> (Option<&'static str>, String, Vec<&'static str>) {
    let export = |tool: &str, cmd: &str| {
        format!("pip install --no-cache-dir {tool} && {cmd} && pip install --no-cache-dir -r /tmp/requirements.txt")
    };
    if listing.has("uv.lock") {
        let cmd = export("uv", "uv export --frozen --no-dev --no-hashes --no-emit-project -o /tmp/requirements.txt");
        (Some("uv"), cmd, vec!["pyproject.toml", "uv.lock"])
    } else if listing.has("poetry.lock") {
        let cmd = "pip install --no-cache-dir poetry && poetry config virtualenvs.create false && poetry install --only main --no-root --no-interaction";
        (Some("poetry"), cmd.into(), vec!["pyproject.toml", "poetry.lock"])
    } else if listing.has("pdm.lock") {
        let cmd = export("pdm", "pdm export --prod --without-hashes -o /tmp/requirements.txt");
        (Some("pdm"), cmd, vec!["pyproject.toml", "pdm.lock"])
    } else if listing.has("requirements.txt") {
        (Some("pip"), "pip install --no-cache-dir -r requirements.txt".into(), vec!["requirements.txt"])
    } else if listing.has("Pipfile") {
        let cmd = "pip install --no-cache-dir pipenv && pipenv install --system --deploy";
        (Some("pipenv"), cmd.into(), vec!["Pipfile", "Pipfile.lock"])
    } else if listing.has("pyproject.toml") {
        // `pip install .` needs the sources, so nothing is copied ahead of them.
        (Some("pip"), "pip install --no-cache-dir .".into(), vec![])
    } else {
        (None, "true".into(), vec![])
    }
}

pub(crate) fn recipe(listing: &Listing) -> Result<Recipe, PlanError> {
    if !detected(listing) {
        return Err(PlanError::NothingDetected);
    }
    let (pm, install, deps) = manager(listing);
    let (start, notes) = start_command(listing)?;
    Ok(Recipe {
        runtime: Runtime::Python,
        package_manager: pm.map(str::to_owned),
        version: version(listing),
        install,
        build: None,
        start,
        dependency_files: deps.into_iter().filter(|f| listing.has(f)).map(str::to_owned).collect(),
        notes,
    })
}

/// Every dependency declaration, lowercased, to look for frameworks in.
fn dependencies(listing: &Listing) -> String {
    ["requirements.txt", "pyproject.toml", "Pipfile"]
        .iter()
        .filter_map(|f| listing.read(f))
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase()
}

/// The importable module of the first Python file containing `needle`, e.g. `api/server.py` → `api.server`.
fn module_defining(listing: &Listing, needle: &str) -> Option<String> {
    let mut files: Vec<(&String, &String)> = listing.contents.iter().filter(|(f, _)| f.ends_with(".py")).collect();
    // Top-level files first, then by name, so the choice is stable.
    files.sort_by_key(|(f, _)| (f.contains('/'), f.to_string()));
    let (file, _) = files.into_iter().find(|(_, text)| text.contains(needle))?;
    Some(file.trim_end_matches(".py").replace('/', "."))
}

/// Procfile → Django → FastAPI/Starlette with uvicorn → Flask with gunicorn → main.py | app.py | server.py.
fn start_command(listing: &Listing) -> Result<(String, Vec<String>), PlanError> {
    let deps = dependencies(listing);
    let migrate_note = |cmd: &str| format!("migrations are never run at start: set release_command = \"{cmd}\"");
    if let Some(web) = procfile_web(listing) {
        return Ok((web, Vec::new()));
    }
    if listing.has("manage.py") && deps.contains("django") {
        let project = listing.files.iter().find_map(|f| f.strip_suffix("/wsgi.py").filter(|p| !p.contains('/')));
        let project = project.map(str::to_owned).unwrap_or_else(|| "config".into());
        let start = format!("gunicorn {project}.wsgi --bind 0.0.0.0:$PORT");
        return Ok((start, vec![migrate_note("python manage.py migrate")]));
    }
    if deps.contains("uvicorn") || deps.contains("fastapi") {
        for framework in ["FastAPI(", "Starlette("] {
            if let Some(module) = module_defining(listing, framework) {
                return Ok((format!("uvicorn {module}:app --host 0.0.0.0 --port $PORT"), Vec::new()));
            }
        }
    }
    if deps.contains("flask") {
        if let Some(module) = module_defining(listing, "Flask(") {
            return Ok((format!("gunicorn {module}:app --bind 0.0.0.0:$PORT"), Vec::new()));
        }
    }
    match ["main.py", "app.py", "server.py"].iter().find(|f| listing.has(f)) {
        Some(file) => Ok((format!("python {file}"), Vec::new())),
        None => Err(PlanError::NoStart(
            "no start command found for this Python project: add a Procfile with `web: <command>`, a main.py, or set start_command".into(),
        )),
    }
}

/// `.python-version` → `runtime.txt` (`python-3.11.4`) → the default, as `major.minor`.
fn version(listing: &Listing) -> String {
    let declared = listing.read(".python-version").or_else(|| listing.read("runtime.txt"));
    declared
        .and_then(|v| {
            let v = v.trim().trim_start_matches("python-");
            let parts: Vec<&str> = v.split('.').take(2).collect();
            (parts.len() == 2 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
                .then(|| parts.join("."))
        })
        .unwrap_or_else(|| PYTHON_DEFAULT.into())
}
