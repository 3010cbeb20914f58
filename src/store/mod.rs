//! The sqlx pool (SQLite by default, PostgreSQL for `postgres://` URLs), its migrations and queries.
//!
//! Both databases go through sqlx's `Any` driver with `$N` placeholders, which SQLite
//! also understands, so every query is written once. Times are Unix milliseconds.

/// The deployments column list, as a macro so every query stays a `&'static str` (sqlx audits dynamic SQL).
macro_rules! columns {
    () => {
        "id, project, status, phase, slot, port, target, commit_sha, message, git_ref, image, trigger_kind, rollback_of, error, created_at, started_at, finished_at, canary_percent"
    };
}

mod certificates;
mod challenges;
mod cluster;
mod deliveries;
mod deployments;
mod github;
mod leases;
mod logs;
mod previews;
mod projects;
mod route_inputs;
mod routes;
mod sessions;
mod transitions;

pub use certificates::{CertRow, CertSource, CertStatus, IssuedCert};
pub use challenges::{ChallengeRow, CHALLENGES_CHANNEL};
pub use cluster::{Node, Role, Roles, ROUTES_CHANNEL};
pub use deployments::{Deployment, NewDeployment};
pub(crate) use logs::DeploymentEvent;
pub use previews::Preview;
pub use projects::deploy_token_digest;
pub(crate) use projects::ProjectRecord;
pub use sessions::SessionRow;

use crate::config::mask_url_password;
use crate::deployment::DeploymentError;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {url}: {source}. Check store.url and that the database is running")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot migrate the database schema: {0}. Restore a backup or point store.url at an empty database")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database failed: {0}. Check that it is reachable and retry")]
    Query(#[from] sqlx::Error),
    #[error("{0}")]
    Conflict(String),
    #[error("{0} was not found")]
    NotFound(String),
    #[error("stored {what} is unreadable: {message}")]
    Corrupt { what: String, message: String },
    #[error(transparent)]
    Transition(#[from] DeploymentError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

pub(crate) type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// SQLite needs `BEGIN IMMEDIATE` for transactions that write (see [`Store::write_tx`]).
    sqlite: bool,
    /// Seals write-only project values before they reach the database.
    secrets: Option<std::sync::Arc<crate::secrets::SecretBox>>,
}

impl Store {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let connect_err = |source| StoreError::Connect { url: mask_url_password(url), source };
        let sqlite = url.starts_with("sqlite:");
        if sqlite {
            create_sqlite_parent(url);
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(connect_err)?;
        if sqlite {
            // WAL lets the API read while a deploy writes; it is a property of the file.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            make_private(url);
        } else {
            POSTGRES_MIGRATIONS.run(&pool).await?;
        }
        Ok(Store { pool, sqlite, secrets: None })
    }

    /// Encrypts env values, webhook secrets and git tokens at rest from now on.
    pub(crate) fn with_secrets(mut self, secrets: std::sync::Arc<crate::secrets::SecretBox>) -> Store {
        self.secrets = Some(secrets);
        self
    }

    /// A transaction that will write. On SQLite it takes the write lock up front: a deferred one that
    /// reads first fails with "database is locked" when another writer commits in between, instead
    /// of waiting its turn (found by racing webhooks in the zero-downtime matrix).
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let begin = if self.sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
        Ok(self.pool.begin_with(begin).await?)
    }

    /// True when the database answers a trivial query.
    pub(crate) async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

fn sqlite_path(url: &str) -> &str {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    path.split('?').next().unwrap_or_default()
}

fn create_sqlite_parent(url: &str) {
    if let Some(parent) = std::path::Path::new(sqlite_path(url)).parent() {
        let _ = std::fs::create_dir_all(parent);
    }
}

/// The database holds sealed secrets and the whole history: readable by the gateway's user only.
fn make_private(url: &str) {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", sqlite_path(url));
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

/// Milliseconds since the Unix epoch; the unit of every stored time.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Unix milliseconds as an RFC 3339 UTC time with milliseconds, the form every time takes in JSON and messages.
pub(crate) fn rfc3339(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// Maps a unique-key violation to a conflict with the given words.
fn conflict_or(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message()),
        _ => StoreError::Query(e),
    }
}

fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(StoreError::Query)
}

fn parse_col<T: std::str::FromStr>(row: &AnyRow, column: &str) -> Result<T> {
    let text: String = get(row, column)?;
    text.parse()
        .map_err(|_| StoreError::Corrupt { what: column.into(), message: format!("`{text}` is not a known value") })
}
