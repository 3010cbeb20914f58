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
