//! Config parsing: any text gives a config or a list of problems, never a panic; a valid config
//! printed with its secrets masked parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use versiongate::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::parse(text, &[]) {
        Ok(config) => {
            let shown = config.to_masked_toml();
            if let Err(e) = Config::parse(&shown, &[]) {
                panic!("the printed config does not parse again: {e}\n{shown}");
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
