//! Golden plans: one repository shape per case, and the plan it must produce.
//! Bun has no Debian package, so Bun is covered here only, not end to end.

use super::plan::plan;
use super::recipe::{BaseImages, Builder, Listing, PlanError, PlanOptions, Runtime};

/// A repository shape: `(path, contents)` pairs.
type Files<'a> = &'a [(&'a str, &'a str)];

fn options() -> PlanOptions {
    PlanOptions { container_port: 3000, images: BaseImages::default(), ..PlanOptions::default() }
}

/// (runtime, package manager, install, build, start) of the plan for `files`.
fn golden(files: &[(&str, &str)]) -> (Runtime, Option<String>, String, Option<String>, String) {
    let p = plan(&Listing::of(files), &options()).unwrap_or_else(|e| panic!("{files:?}: {e}"));
    (p.runtime, p.package_manager, p.install, p.build, p.start)
}

fn s(text: &str) -> String {
    text.to_owned()
}

const START: &str = r#"{"scripts":{"start":"node server.js"}}"#;

#[test]
fn node_package_managers() {
    let cases: Vec<(Files, (&str, &str, &str))> = vec![
        (&[("package.json", START)], ("npm", "npm install", "npm start")),
        (&[("package.json", START), ("package-lock.json", "{}")], ("npm", "npm ci", "npm start")),
        (
            &[("package.json", START), ("pnpm-lock.yaml", "")],
            ("pnpm", "corepack enable && pnpm install --frozen-lockfile", "pnpm start"),
        ),
        (&[("package.json", START), ("yarn.lock", "")], ("yarn", "yarn install --frozen-lockfile", "yarn start")),
        (
            &[("package.json", START), ("yarn.lock", ""), (".yarnrc.yml", "")],
            ("yarn", "corepack enable && yarn install --immutable", "yarn start"),
        ),
        (&[("package.json", START), ("bun.lockb", "")], ("bun", "bun install --frozen-lockfile", "bun run start")),
        (&[("package.json", START), ("bun.lock", "")], ("bun", "bun install --frozen-lockfile", "bun run start")),
    ];
    for (files, (pm, install, start)) in cases {
        let (_, got_pm, got_install, _, got_start) = golden(files);
        assert_eq!(
            (got_pm.as_deref(), got_install.as_str(), got_start.as_str()),
            (Some(pm), install, start),
            "{files:?}"
        );
    }
}

#[test]
fn the_package_manager_field_wins_over_lockfiles() {
    let pkg = r#"{"packageManager":"pnpm@9.1.0","scripts":{"start":"node a.js","build":"tsc"}}"#;
    let got = golden(&[("package.json", pkg), ("yarn.lock", "")]);
    assert_eq!(
        got,
        (Runtime::Node, Some(s("pnpm")), s("corepack enable && pnpm install"), Some(s("pnpm build")), s("pnpm start"))
    );
    let berry = r#"{"packageManager":"yarn@4.1.0","scripts":{"start":"node a.js"}}"#;
    assert_eq!(golden(&[("package.json", berry), ("yarn.lock", "")]).2, "corepack enable && yarn install --immutable");
    let classic = r#"{"packageManager":"yarn@1.22.19","scripts":{"start":"node a.js"}}"#;
    assert_eq!(golden(&[("package.json", classic), ("yarn.lock", "")]).2, "yarn install --frozen-lockfile");
}

#[test]
fn node_start_commands_fall_back_in_order() {
    let procfile = golden(&[("package.json", START), ("Procfile", "release: x\nweb: node cluster.js\n")]);
    assert_eq!(procfile.4, "node cluster.js");
    assert_eq!(golden(&[("package.json", r#"{"main":"lib/app.js"}"#)]).4, "node lib/app.js");
    assert_eq!(golden(&[("package.json", "{}"), ("server.js", "")]).4, "node server.js");
    assert_eq!(golden(&[("package.json", "{}"), ("index.js", "")]).4, "node index.js");
    let err = plan(&Listing::of(&[("package.json", "{}")]), &options()).unwrap_err();
    assert!(matches!(&err, PlanError::NoStart(m) if m.contains("start")), "{err}");
    let built = golden(&[
        ("package.json", r#"{"scripts":{"start":"node dist/a.js","build":"tsc"}}"#),
        ("package-lock.json", ""),
    ]);
    assert_eq!(built.3.as_deref(), Some("npm run build"));
}

#[test]
fn bun_is_chosen_by_lockfile_start_script_or_builder() {
    let by_script = golden(&[("package.json", r#"{"scripts":{"start":"bun run server.ts"}}"#)]);
    assert_eq!((by_script.0, by_script.1.as_deref()), (Runtime::Bun, Some("bun")));
    let mut opts = options();
    opts.builder = Builder::Bun;
    let forced = plan(&Listing::of(&[("package.json", "{}"), ("index.ts", "")]), &opts).unwrap();
    assert_eq!((forced.runtime, forced.start.as_str()), (Runtime::Bun, "bun index.ts"));
    assert!(forced.dockerfile.starts_with("# Generated") && forced.dockerfile.contains("FROM oven/bun:1-slim"));
}

#[test]
fn node_versions_come_from_engines_nvmrc_or_lts() {
    let image = |files: &[(&str, &str)]| {
        let d = plan(&Listing::of(files), &options()).unwrap().dockerfile;
        d.lines().find(|l| l.starts_with("FROM")).unwrap().to_owned()
    };
    assert_eq!(image(&[("package.json", r#"{"main":"a.js","engines":{"node":">=18.17"}}"#)]), "FROM node:18-slim");
    assert_eq!(image(&[("package.json", r#"{"main":"a.js"}"#), (".nvmrc", "v20.11.1\n")]), "FROM node:20-slim");
    assert_eq!(image(&[("package.json", r#"{"main":"a.js"}"#), (".node-version", "21\n")]), "FROM node:21-slim");
    assert_eq!(image(&[("package.json", r#"{"main":"a.js"}"#)]), "FROM node:22-slim");
}

#[test]
fn python_package_managers() {
    let app = ("main.py", "print('hi')");
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (vec![app, ("requirements.txt", "")], "pip", "pip install --no-cache-dir -r requirements.txt"),
        (vec![app, ("pyproject.toml", ""), ("uv.lock", "")], "uv", "uv export"),
        (vec![app, ("pyproject.toml", ""), ("poetry.lock", "")], "poetry", "poetry install --only main"),
        (vec![app, ("pyproject.toml", ""), ("pdm.lock", "")], "pdm", "pdm export"),
        (vec![app, ("Pipfile", "")], "pipenv", "pipenv install --system --deploy"),
        (vec![app, ("pyproject.toml", "")], "pip", "pip install --no-cache-dir ."),
    ];
    for (files, pm, install) in cases {
        let (runtime, got_pm, got_install, _, start) = golden(&files);
        assert_eq!((runtime, got_pm.as_deref()), (Runtime::Python, Some(pm)), "{files:?}");
        assert!(got_install.contains(install), "{files:?}: {got_install}");
        assert_eq!(start, "python main.py");
    }
}

#[test]
fn python_frameworks_are_found_in_the_file_that_defines_the_app() {
    let django = golden(&[("manage.py", ""), ("shop/wsgi.py", ""), ("requirements.txt", "Django==5.0\ngunicorn\n")]);
    assert_eq!(django.4, "gunicorn shop.wsgi --bind 0.0.0.0:$PORT");
    let fastapi = golden(&[
        ("requirements.txt", "fastapi\nuvicorn\n"),
        ("api/service.py", "from fastapi import FastAPI\napp = FastAPI()\n"),
        ("helpers.py", ""),
    ]);
    assert_eq!(fastapi.4, "uvicorn api.service:app --host 0.0.0.0 --port $PORT");
    let starlette = golden(&[
        ("pyproject.toml", "dependencies = [\"starlette\", \"uvicorn\"]"),
        ("web.py", "app = Starlette(routes=[])"),
    ]);
    assert_eq!(starlette.4, "uvicorn web:app --host 0.0.0.0 --port $PORT");
    let flask = golden(&[
        ("requirements.txt", "flask\ngunicorn\n"),
        ("wsgi_app.py", "from flask import Flask\napp = Flask(__name__)\n"),
    ]);
    assert_eq!(flask.4, "gunicorn wsgi_app:app --bind 0.0.0.0:$PORT");
    let procfile = golden(&[("requirements.txt", "flask"), ("Procfile", "web: gunicorn x:y -w 4"), ("x.py", "")]);
    assert_eq!(procfile.4, "gunicorn x:y -w 4");
}

#[test]
fn django_never_migrates_at_start() {
    let p = plan(&Listing::of(&[("manage.py", ""), ("site1/wsgi.py", ""), ("requirements.txt", "django")]), &options())
        .unwrap();
    assert!(!p.start.contains("migrate") && !p.dockerfile.contains("migrate"));
    assert!(p.notes.iter().any(|n| n.contains("release_command")), "{:?}", p.notes);
}

#[test]
fn python_versions_and_the_generated_dockerfile() {
    let p =
        plan(&Listing::of(&[("app.py", ""), ("requirements.txt", ""), ("runtime.txt", "python-3.11.4\n")]), &options())
            .unwrap();
    let d = &p.dockerfile;
    assert!(d.contains("FROM python:3.11-slim"), "{d}");
    for must in [
        "PYTHONUNBUFFERED=1",
        "PORT=3000",
        "HOST=0.0.0.0",
        "UVICORN_HOST=0.0.0.0",
        "UVICORN_PORT=3000",
        "USER 10001:10001",
    ] {
        assert!(d.contains(must), "missing {must}:\n{d}");
    }
    let copy_deps = d.find("COPY requirements.txt ./").unwrap();
    assert!(
        copy_deps < d.find("RUN pip install").unwrap()
            && d.find("RUN pip install").unwrap() < d.find("COPY --chown").unwrap()
    );
    assert!(d.ends_with("CMD [\"sh\", \"-c\", \"exec python app.py\"]\n"), "{d}");
    let pinned = plan(&Listing::of(&[("app.py", ""), (".python-version", "3.13\n")]), &options()).unwrap();
    assert!(pinned.dockerfile.contains("FROM python:3.13-slim"));
}

#[test]
fn precedence_dockerfile_then_start_script_then_python_then_package_json() {
    let with_dockerfile =
        plan(&Listing::of(&[("Dockerfile", "FROM scratch\n"), ("package.json", START)]), &options()).unwrap();
    assert_eq!(
        (with_dockerfile.runtime, with_dockerfile.dockerfile_source, with_dockerfile.dockerfile.as_str()),
        (Runtime::Dockerfile, "repo", "FROM scratch\n")
    );
    let both = golden(&[("package.json", START), ("requirements.txt", ""), ("main.py", "")]);
    assert_eq!(both.0, Runtime::Node, "a package.json that can start wins");
    let tooling_only = golden(&[
        ("package.json", r#"{"devDependencies":{"prettier":"3"}}"#),
        ("requirements.txt", ""),
        ("main.py", ""),
    ]);
    assert_eq!(tooling_only.0, Runtime::Python, "a package.json for tooling does not hide the Python app");
    let mut opts = options();
    opts.builder = Builder::Python;
    assert_eq!(
        plan(&Listing::of(&[("package.json", START), ("main.py", "")]), &opts).unwrap().runtime,
        Runtime::Python
    );
    opts.builder = Builder::Dockerfile;
    assert_eq!(plan(&Listing::of(&[("main.py", "")]), &opts).unwrap_err(), PlanError::NoDockerfile);
    let mut custom = options();
    custom.dockerfile = "deploy/Dockerfile".into();
    assert_eq!(plan(&Listing::of(&[("package.json", START)]), &custom).unwrap().dockerfile_path, "deploy/Dockerfile");
}

#[test]
fn start_command_and_images_can_be_overridden() {
    let mut opts = options();
    opts.start_command = "node worker.js --web".into();
    opts.images.node_image = "registry.local/node:{version}".into();
    let p = plan(&Listing::of(&[("package.json", START)]), &opts).unwrap();
    assert_eq!(p.start, "node worker.js --web");
    assert!(p.dockerfile.contains("FROM registry.local/node:22\n"), "{}", p.dockerfile);
}

#[test]
fn an_empty_repo_is_not_detected() {
    assert_eq!(plan(&Listing::default(), &options()).unwrap_err(), PlanError::NothingDetected);
    assert_eq!(plan(&Listing::of(&[("README.md", "hi")]), &options()).unwrap_err(), PlanError::NothingDetected);
}
