//! When a process reads its store whole (`PRAGMA quick_check`): once, not after each of its own
//! pulls. Alone in its test binary: the count is the process's.

mod common;

use common::Env;
use scimdrift::store::{Store, checks_run};

#[tokio::test]
async fn a_process_checks_the_store_once_not_after_each_of_its_own_pulls() {
    let env = Env::scenarios(10).await;
    let db = env.db_path();
    env.pull().await;
    assert_eq!(
        checks_run(),
        0,
        "a store this process created is intact by construction"
    );
    for _ in 0..3 {
        env.pull().await;
        drop(Store::open(&db).unwrap());
    }
    assert_eq!(
        checks_run(),
        0,
        "checked again after this process's own pull"
    );
    // A change this process did not make (another writer) is checked before the next write.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE snapshots SET retries = retries + 1 WHERE id = 1",
        [],
    )
    .unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    drop(conn);
    drop(Store::open(&db).unwrap());
    assert_eq!(checks_run(), 1);
    drop(Store::open(&db).unwrap());
    assert_eq!(checks_run(), 1, "checked once per change");
}
