//! `versiongate detect DIR [--json]`: what would be built for a repository, without building it.

use crate::builder::listing;
use crate::builder::plan::{plan, BaseImages, PlanOptions};
use std::path::Path;

/// Prints the plan; returns the exit code (2 when nothing can be built).
pub fn detect(dir: &Path, json: bool) -> u8 {
    let listing = match listing::read(dir) {
        Ok(listing) => listing,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}. Give the path of a checked-out repository", dir.display());
            return 2;
        }
    };
    let options = PlanOptions { container_port: 3000, images: BaseImages::default(), ..PlanOptions::default() };
    let plan = match plan(&listing, &options) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default());
        return 0;
    }
    let field = |v: Option<&str>| v.unwrap_or("-").to_owned();
    println!(
        "runtime:          {}",
        serde_json::to_value(plan.runtime).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    );
    println!("package manager:  {}", field(plan.package_manager.as_deref()));
    println!("install:          {}", if plan.install.is_empty() { "-" } else { &plan.install });
    println!("build:            {}", field(plan.build.as_deref()));
    println!("start:            {}", if plan.start.is_empty() { "-" } else { &plan.start });
    println!("dockerfile:       {} ({})", plan.dockerfile_path, plan.dockerfile_source);
    for note in &plan.notes {
        println!("note:             {note}");
    }
    println!("\n{}", plan.dockerfile);
    0
}
