//! The GitHub-flow fields of a project (previews, required checks, the GitHub token) and the spec of a
//! pull request's preview project, derived from its parent's (pure).

use super::validate::invalid;
use super::{check_domain, ProjectError, ProjectSpec, Strategy};
use crate::secrets::Secret;

/// Pull request numbers up to 999999: `-pr-` and six digits fit in a project name if the parent's name
/// has at most 30 characters.
pub(crate) const MAX_PR_DIGITS: usize = 6;
const MAX_PARENT_NAME: usize = 40 - "-pr-".len() - MAX_PR_DIGITS;
/// Longest preview TTL: a year.
const MAX_TTL_H: f64 = 24.0 * 365.0;

/// `<parent>-pr-N`: only digits and the parent's validated name, so never outside `[a-z0-9-]`.
pub(crate) fn preview_name(parent: &str, number: u32) -> String {
    format!("{parent}-pr-{number}")
}

impl ProjectSpec {
    pub(super) fn github_problems(&self) -> Vec<ProjectError> {
        let mut out = Vec::new();
        if self.previews {
            out.extend(self.preview_problems());
        }
        if !(self.preview_ttl_h.is_finite() && self.preview_ttl_h > 0.0 && self.preview_ttl_h <= MAX_TTL_H) {
            out.push(invalid("preview_ttl_h", "must be a number of hours above 0 and at most 8760 (72 = three days)"));
        }
        if !(1..=100).contains(&self.max_previews) {
            out.push(invalid("max_previews", "must be between 1 and 100"));
        }
        for (i, check) in self.required_checks.iter().enumerate() {
            if check.trim().is_empty() || check.len() > 200 || check.chars().any(char::is_control) {
                out.push(invalid(
                    format!("required_checks[{i}]"),
                    "must be a check name as GitHub shows it (1–200 characters), or \"*\" for every check",
                ));
            }
        }
        if self.checks_timeout_s == 0 {
            out.push(invalid("checks_timeout_s", "must be at least 1"));
        }
        let api = self.github_api_url.as_str();
        let scheme_ok = api.starts_with("https://") || api.starts_with("http://");
        if !scheme_ok || api.chars().any(|c| c.is_whitespace() || c.is_control()) {
            out.push(invalid("github_api_url", "must be an http(s) URL such as https://api.github.com"));
        }
        out
    }

    fn preview_problems(&self) -> Vec<ProjectError> {
        let mut out = Vec::new();
        if !self.runtime.builds() {
            out.push(invalid("previews", "previews build pull requests: they need runtime \"docker\" or \"swarm\""));
        }
        if self.name.len() > MAX_PARENT_NAME {
            out.push(invalid(
                "previews",
                format!("preview names are `<name>-pr-N`: a project with previews needs a name of at most {MAX_PARENT_NAME} characters"),
            ));
        }
        if self.preview_domain.is_empty() {
            out.push(invalid("preview_domain", "is needed with previews = true, e.g. preview.example.com"));
        } else if self.preview_domain.starts_with("*.") {
            out.push(invalid(
                "preview_domain",
                "takes a plain domain: pull request N is served at pr-N.<preview_domain>",
            ));
        } else if let Err(message) = check_domain(&self.preview_domain) {
            out.push(invalid("preview_domain", message));
        }
        out
    }

    /// The preview project of pull request `number`: the parent's build settings and env, plus
    /// `VERSIONGATE_PREVIEW=1` and `VERSIONGATE_PR=N`, at `pr-N.<preview_domain>`, on its own ports,
    /// following GitHub's `refs/pull/N/head`. Validated like any project.
    pub(crate) fn preview(&self, number: u32) -> Result<ProjectSpec, ProjectError> {
        if number == 0 || number.to_string().len() > MAX_PR_DIGITS {
            return Err(invalid("number", format!("pull request numbers go from 1 to {}", 10u32.pow(6) - 1)));
        }
        let mut env = self.env.clone();
        env.insert("VERSIONGATE_PREVIEW".into(), Secret::from("1"));
        env.insert("VERSIONGATE_PR".into(), Secret::from(number.to_string()));
        let spec = ProjectSpec {
            name: preview_name(&self.name, number),
            domains: vec![format!("pr-{number}.{}", self.preview_domain)],
            branch: format!("pull/{number}/head"),
            base_port: None,
            env,
            replicas: 1,
            strategy: Strategy::BlueGreen,
            previews: false,
            preview_domain: String::new(),
            required_checks: Vec::new(),
            ..self.clone()
        };
        spec.validate()
    }
}

/// `pull/N/head` → N: the branch of a preview project, fetched from GitHub's `refs/pull/N/head`.
pub(crate) fn pull_number(branch: &str) -> Option<u32> {
    let digits = branch.strip_prefix("pull/")?.strip_suffix("/head")?;
    let valid = !digits.is_empty() && digits.len() <= MAX_PR_DIGITS && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| digits.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent() -> ProjectSpec {
        let mut spec = ProjectSpec { name: "shop".into(), previews: true, ..ProjectSpec::default() };
        spec.preview_domain = "preview.example.com".into();
        spec.env.insert("DATABASE_URL".into(), Secret::from("postgres://x"));
        spec.domains = vec!["shop.example.com".into()];
        spec.base_port = Some(21000);
        spec.replicas = 3;
        spec
    }

    #[test]
    fn a_preview_keeps_the_build_and_env_and_gets_its_own_name_host_and_ports() {
        let p = parent().preview(42).unwrap();
        assert_eq!(p.name, "shop-pr-42");
        assert_eq!(p.domains, vec!["pr-42.preview.example.com"]);
        assert_eq!(p.base_port, None, "ports are picked for the preview");
        assert_eq!(p.branch, "pull/42/head");
        assert_eq!(pull_number(&p.branch), Some(42));
        assert_eq!(p.env["DATABASE_URL"].expose(), "postgres://x");
        assert_eq!(p.env["VERSIONGATE_PREVIEW"].expose(), "1");
        assert_eq!(p.env["VERSIONGATE_PR"].expose(), "42");
        assert!(!p.previews && p.required_checks.is_empty() && p.replicas == 1);
        assert!(parent().preview(0).is_err());
        assert!(parent().preview(1_000_000).is_err());
        assert_eq!(parent().preview(999_999).unwrap().name, "shop-pr-999999");
    }

    #[test]
    fn preview_settings_are_checked() {
        assert!(parent().validate().is_ok());
        let field = |mut s: ProjectSpec, f: fn(&mut ProjectSpec)| {
            f(&mut s);
            s.validate().unwrap_err().field
        };
        assert_eq!(field(parent(), |s| s.preview_domain.clear()), "preview_domain");
        assert_eq!(field(parent(), |s| s.preview_domain = "*.x.com".into()), "preview_domain");
        assert_eq!(field(parent(), |s| s.preview_domain = "a b".into()), "preview_domain");
        assert_eq!(field(parent(), |s| s.name = "a".repeat(31)), "previews");
        assert_eq!(
            field(parent(), |s| {
                s.runtime = "external".parse().unwrap();
                s.replicas = 1;
            }),
            "previews"
        );
        assert_eq!(field(parent(), |s| s.preview_ttl_h = 0.0), "preview_ttl_h");
        assert_eq!(field(parent(), |s| s.preview_ttl_h = f64::NAN), "preview_ttl_h");
        assert_eq!(field(parent(), |s| s.max_previews = 0), "max_previews");
        assert_eq!(field(parent(), |s| s.required_checks = vec!["ok".into(), " ".into()]), "required_checks[1]");
        assert_eq!(field(parent(), |s| s.checks_timeout_s = 0), "checks_timeout_s");
        assert_eq!(field(parent(), |s| s.github_api_url = "ftp://x".into()), "github_api_url");
        let mut ok = parent();
        ok.name = "a".repeat(30);
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn only_pull_head_branches_name_a_pull_request() {
        assert_eq!(pull_number("pull/7/head"), Some(7));
        for other in ["main", "pull/x/head", "pull//head", "pull/1234567/head", "pull/7/merge", "refs/pull/7/head"] {
            assert_eq!(pull_number(other), None, "{other}");
        }
    }
}
