//! A first import's indexes built after its rows. Inserting 300,000 version rows into a table's
//! indexes one by one writes their pages in random order (the keys are random ids); building an
//! index once the rows are in sorts the keys and writes it in one pass (and packed full). So a pull
//! that writes into an *empty* version table drops that table's indexes in its transaction and
//! creates them again, from the schema's own text, before anything reads through them.
//!
//! Nothing is loosened: the transaction holds the write lock throughout, readers on other
//! connections see the schema of the last commit (WAL), a rolled-back pull (incomplete, held, a
//! crash) rolls the drop back with it, and a unique index built over rows that break it fails the
//! pull as the insert would have.

use rusqlite::Transaction;

/// The indexes dropped for a bulk load, to be built again by [`Deferred::rebuild`].
#[derive(Debug, Default)]
pub(super) struct Deferred {
    /// `(name, CREATE INDEX statement)` as `sqlite_master` holds them.
    indexes: Vec<(String, String)>,
    /// The tables they belong to.
    tables: Vec<String>,
    /// The tables [`Deferred::before_rows`] looked at.
    checked: Vec<String>,
}

impl Deferred {
    /// Before the first rows go into `table` in this pull: drops its indexes when it holds no row
    /// at all (a table with rows keeps them: its pull updates it in place). Only explicit indexes
    /// are dropped (`sql` not NULL), never a constraint's own. Once per table; a table no row goes
    /// into keeps its indexes (no schema change for nothing).
    pub(super) fn before_rows(&mut self, tx: &Transaction, table: &str) -> rusqlite::Result<()> {
        if self.checked.iter().any(|t| t == table) {
            return Ok(());
        }
        self.checked.push(table.to_string());
        let empty: bool = tx.query_row(
            &format!("SELECT NOT EXISTS (SELECT 1 FROM {table})"),
            [],
            |r| r.get(0),
        )?;
        if !empty {
            return Ok(());
        }
        let mut stmt = tx.prepare(
            "SELECT name, sql FROM sqlite_master
             WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL ORDER BY name",
        )?;
        let found = stmt
            .query_map([table], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
        for (name, _) in &found {
            tx.execute_batch(&format!("DROP INDEX \"{name}\""))?;
        }
        tracing::debug!(
            table,
            indexes = found.len(),
            "an empty version table: its indexes are built after the rows"
        );
        self.indexes.extend(found);
        self.tables.push(table.to_string());
        Ok(())
    }

    /// True when the indexes of `table` were dropped (it was empty).
    pub(super) fn covers(&self, table: &str) -> bool {
        self.tables.iter().any(|t| t == table)
    }

    /// Builds the dropped indexes again (a no-op when none was dropped).
    pub(super) fn rebuild(self, tx: &Transaction) -> rusqlite::Result<()> {
        let clock = std::time::Instant::now();
        // The sorter may use a second thread: the pages are in, the fetch is over.
        tx.pragma_update(None, "threads", 1)?;
        for (_, sql) in &self.indexes {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "threads", 0)?;
        if !self.indexes.is_empty() {
            tracing::debug!(
                indexes = self.indexes.len(),
                seconds = clock.elapsed().as_secs_f64(),
                "indexes built after the rows"
            );
        }
        Ok(())
    }
}
