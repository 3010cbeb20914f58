//! Repository detection: any listing (paths and manifest contents), never a panic; a generated plan
//! always has a Dockerfile and a start command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use versiongate::builder::plan::{plan, Listing, PlanOptions};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // "path\0contents\0path\0contents…": the fuzzer shapes both the tree and what the files say.
    let parts: Vec<&str> = text.split('\0').collect();
    let mut listing = Listing::default();
    for pair in parts.chunks(2) {
        let path = pair[0].trim_start_matches('/');
        listing.files.insert(path.to_owned());
        if let Some(contents) = pair.get(1) {
            listing.contents.insert(path.to_owned(), (*contents).to_owned());
        }
    }
    let built = plan(&listing, &PlanOptions::default());
    if let Some(built) = built.ok().filter(|b| b.dockerfile_source == "generated") {
        assert!(!built.dockerfile.is_empty() && !built.start.is_empty(), "{built:?}");
    }
});
