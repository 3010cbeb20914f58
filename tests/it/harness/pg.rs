//! Fresh PostgreSQL databases on the test server that scripts/test starts (`VERSIONGATE_TEST_PG_URL`).

/// Creates an empty database; returns its URL, whose host part is the test server's.
pub async fn fresh_database(prefix: &str) -> String {
    let admin = std::env::var("VERSIONGATE_TEST_PG_URL")
        .expect("VERSIONGATE_TEST_PG_URL is not set: run scripts/test, which starts PostgreSQL and sets it");
    sqlx::any::install_default_drivers();
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::AnyPool::connect(&admin).await.expect("cannot reach the test PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
    pool.close().await;
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// A store on a fresh database, kept alive (with its temp dir) for one test.
pub struct Db {
    pub store: versiongate::store::Store,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    Db { store: versiongate::store::Store::open(&url).await.unwrap(), _dir: Some(dir) }
}

pub async fn postgres() -> Db {
    Db { store: versiongate::store::Store::open(&fresh_database("vg_test").await).await.unwrap(), _dir: None }
}

/// One test module per case, with a `sqlite` and a `postgres` test calling `case(&Store)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn sqlite() {
                super::$case(&$crate::harness::pg::sqlite().await.store).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$case(&$crate::harness::pg::postgres().await.store).await
            }
        }
    )*};
}
