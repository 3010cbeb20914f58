use super::*;

fn spec(name: &str) -> ProjectSpec {
    ProjectSpec { name: name.into(), ..ProjectSpec::default() }
}

#[test]
fn names_follow_the_contract_pattern() {
    for ok in ["a", "myapp", "0app", "my-app-2", &"a".repeat(40)] {
        assert!(spec(ok).validate().is_ok(), "{ok}");
    }
    for bad in ["", "-app", "My", "my_app", "app.x", &"a".repeat(41), "ápp"] {
        assert_eq!(spec(bad).validate().unwrap_err().field, "name", "{bad}");
    }
}

#[test]
fn domains_are_lowercased_and_checked() {
    let mut s = spec("app");
    s.domains = vec!["App.Example.COM".into(), "*.example.com".into()];
    let s = s.validate().unwrap();
    assert_eq!(s.domains, ["app.example.com", "*.example.com"]);
    for bad in ["", "a..b", "-a.com", "a_b.com", "*.", "a.*.com", "http://a.com"] {
        let mut s = spec("app");
        s.domains = vec!["ok.com".into(), bad.into()];
        assert_eq!(s.validate().unwrap_err().field, "domains[1]", "{bad}");
    }
    let mut dup = spec("app");
    dup.domains = vec!["a.com".into(), "A.com".into()];
    assert!(dup.validate().unwrap_err().message.contains("twice"));
}

#[test]
fn numeric_fields_have_ranges() {
    type Change = Box<dyn Fn(&mut ProjectSpec)>;
    let cases: Vec<(&str, Change)> = vec![
        ("base_port", Box::new(|s| s.base_port = Some(80))),
        ("base_port", Box::new(|s| s.base_port = Some(65535))),
        ("container_port", Box::new(|s| s.container_port = 0)),
        ("healthy_threshold", Box::new(|s| s.healthy_threshold = 0)),
        ("health_interval_ms", Box::new(|s| s.health_interval_ms = 0)),
        ("max_error_rate", Box::new(|s| s.max_error_rate = 1.5)),
        ("health_path", Box::new(|s| s.health_path = "health".into())),
        ("replicas", Box::new(|s| s.replicas = 0)),
        ("replicas", Box::new(|s| s.replicas = 33)),
        ("replicas", Box::new(|s| (s.base_port, s.replicas) = (Some(65530), 4))),
        ("replicas", Box::new(|s| (s.runtime, s.replicas) = (RuntimeKind::External, 2))),
        ("strategy", Box::new(|s| (s.runtime, s.strategy) = (RuntimeKind::External, Strategy::HoldSwap))),
        ("pause_queue", Box::new(|s| s.pause_queue = 0)),
    ];
    for (field, change) in cases {
        let mut s = spec("app");
        change(&mut s);
        assert_eq!(s.validate().unwrap_err().field, field);
    }
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    let err = toml::from_str::<ProjectSpec>("name = \"a\"\nhealth_pth = \"/\"").unwrap_err();
    assert!(err.to_string().contains("health_pth"), "{err}");
    let parsed: ProjectSpec = toml::from_str("name = \"a\"").unwrap();
    assert_eq!(parsed.healthy_threshold, 3);
    assert_eq!(parsed.branch, "main");
    assert_eq!((parsed.replicas, parsed.strategy, parsed.pause_queue), (1, Strategy::BlueGreen, 1000));
    let swap: ProjectSpec = toml::from_str("name = \"a\"\nstrategy = \"hold_swap\"\nreplicas = 4").unwrap();
    assert_eq!((swap.strategy, swap.replicas), (Strategy::HoldSwap, 4));
    let mut fits = spec("app");
    (fits.base_port, fits.replicas) = (Some(65520), 8);
    assert!(fits.validate().is_ok());
}

#[test]
fn time_settings_are_bounded_to_a_week() {
    let mut s = spec("app");
    s.stop_timeout_s = 9_223_372_036_854_775_808;
    let err = s.validate().unwrap_err();
    assert_eq!(err.field, "stop_timeout_s");
    assert!(err.message.contains("604800"), "{err}");
    let mut s = spec("app");
    s.observe_s = MAX_SECONDS;
    s.checks_timeout_s = MAX_SECONDS;
    assert!(s.validate().is_ok(), "a week itself is allowed");
    let mut s = spec("app");
    s.health_interval_ms = 3_600_001;
    assert_eq!(s.validate().unwrap_err().field, "health_interval_ms");
    let mut s = spec("app");
    s.keep_images = u32::MAX;
    assert_eq!(s.validate().unwrap_err().field, "keep_images");
    let mut s = spec("app");
    s.min_requests = u64::MAX;
    assert_eq!(s.validate().unwrap_err().field, "min_requests");
}

#[test]
fn a_deploy_token_is_empty_or_long_visible_ascii() {
    for ok in [String::new(), "a".repeat(24), "Zx9-_.~!".repeat(4), "b".repeat(256)] {
        let mut s = spec("app");
        s.deploy_token = ok.as_str().into();
        assert!(s.validate().is_ok(), "{ok}");
    }
    for bad in ["a".repeat(23), "b".repeat(257), format!("{} x", "a".repeat(24)), format!("{}é", "a".repeat(24))] {
        let mut s = spec("app");
        s.deploy_token = bad.as_str().into();
        let err = s.validate().unwrap_err();
        assert_eq!(err.field, "deploy_token", "{bad}");
        assert!(!err.message.contains(&bad), "the message never echoes the token");
    }
}
