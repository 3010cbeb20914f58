//! What a project's deploy token may do (pure, default deny): deploy that project, and read its deployments
//! and their logs. Everything else under `/api/v1` is refused with 403.

use axum::http::{Method, StatusCode};

use super::error::ApiError;

/// Who a request to the API acts as, inserted into the request's extensions by the bearer check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// The admin token or a dashboard session: everything.
    Admin,
    /// A project's deploy token: [`deploy_token_allows`] decides.
    Deploy { project: String },
}

/// What an allowed route must still be checked against before a deploy token may use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The route names a project: it must be the token's.
    Project(String),
    /// The route names a deployment: its row's project must be the token's (one store read).
    Deployment(i64),
}

/// The routes a deploy token may call, with the path parameter that names what they touch; `None` for every
/// other route (and for a parameter that is missing or not a number, which the handler would refuse anyway).
/// `matched_path` is the route's template, with or without the `/api/v1` prefix.
pub(crate) fn deploy_token_allows(method: &Method, matched_path: &str, params: &[(&str, &str)]) -> Option<Scope> {
    let param = |key: &str| params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let route = matched_path.strip_prefix("/api/v1").unwrap_or(matched_path);
    match (method, route) {
        (&Method::POST | &Method::GET, "/projects/{name}/deployments") => Some(Scope::Project(param("name")?.into())),
        (&Method::GET, "/deployments/{id}" | "/deployments/{id}/logs") => {
            param("id")?.parse().ok().map(Scope::Deployment)
        }
        _ => None,
    }
}

/// The 403 for a deploy token outside its scope, naming what it may do.
pub(crate) fn forbidden(project: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "a deploy token of `{project}` may only POST and GET /api/v1/projects/{project}/deployments and GET \
             that project's /api/v1/deployments/{{id}} and /api/v1/deployments/{{id}}/logs; use the admin token \
             for anything else"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &[(&str, &str)] = &[("name", "app")];
    const ID: &[(&str, &str)] = &[("id", "12")];
    /// A call: method, route template and path parameters.
    type Call = (Method, &'static str, &'static [(&'static str, &'static str)]);

    #[test]
    fn a_deploy_token_may_deploy_and_read_deployments_only() {
        let allowed: [(Call, Scope); 5] = [
            ((Method::POST, "/api/v1/projects/{name}/deployments", NAME), Scope::Project("app".into())),
            ((Method::GET, "/api/v1/projects/{name}/deployments", NAME), Scope::Project("app".into())),
            ((Method::GET, "/projects/{name}/deployments", NAME), Scope::Project("app".into())),
            ((Method::GET, "/api/v1/deployments/{id}", ID), Scope::Deployment(12)),
            ((Method::GET, "/api/v1/deployments/{id}/logs", ID), Scope::Deployment(12)),
        ];
        for ((method, path, params), scope) in allowed {
            assert_eq!(deploy_token_allows(&method, path, params), Some(scope), "{method} {path}");
        }
    }

    #[test]
    fn everything_else_is_denied() {
        let denied: [Call; 14] = [
            (Method::GET, "/api/v1/projects", &[]),
            (Method::POST, "/api/v1/projects", &[]),
            (Method::GET, "/api/v1/projects/{name}", NAME),
            (Method::PATCH, "/api/v1/projects/{name}", NAME),
            (Method::DELETE, "/api/v1/projects/{name}", NAME),
            (Method::DELETE, "/api/v1/projects/{name}/deployments", NAME),
            (Method::POST, "/api/v1/projects/{name}/rollback", NAME),
            (Method::POST, "/api/v1/projects/{name}/promote", NAME),
            (Method::POST, "/api/v1/deployments/{id}/cancel", ID),
            (Method::POST, "/api/v1/deployments/{id}", ID),
            (Method::GET, "/api/v1/openapi.json", &[]),
            (Method::PUT, "/api/v1/certificates/{host}", &[("host", "x")]),
            (Method::GET, "/api/v1/deployments/{id}", &[("id", "x")]),
            (Method::GET, "/api/v1/projects/{name}/deployments", &[]),
        ];
        for (method, path, params) in denied {
            assert_eq!(deploy_token_allows(&method, path, params), None, "{method} {path}");
        }
    }

    #[test]
    fn the_refusal_names_what_the_token_may_do() {
        let e = forbidden("app");
        assert_eq!((e.status, e.code), (StatusCode::FORBIDDEN, "forbidden"));
        assert!(e.message.contains("/api/v1/projects/app/deployments"), "{}", e.message);
    }
}
