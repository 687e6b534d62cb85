//! Many rows of one table, written in as few statements as the backend allows: PostgreSQL
//! takes each column as one array and `UNNEST`s them (one statement text whatever the number of
//! rows, so it is prepared once), SQLite takes multi-row `INSERT`s cut to its bind limit. An
//! import batch writes its accounts, members, logins, memberships and audit rows this way
//! (`sql/member_records.rs`).

use uuid::Uuid;

/// One value of a row; `None` is NULL, typed, since PostgreSQL types an `INSERT`'s parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    Uuid(Option<Uuid>),
    Text(Option<&'a str>),
    Int(i64),
}

impl Cell<'_> {
    pub fn uuid(id: Uuid) -> Self {
        Cell::Uuid(Some(id))
    }
}

impl<'a> Cell<'a> {
    pub fn text(text: &'a str) -> Self {
        Cell::Text(Some(text))
    }
}

/// Rows for `table`, each with one cell per column of `columns`, in order.
#[derive(Debug)]
pub struct BulkRows<'a> {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    cells: Vec<Cell<'a>>,
}

impl<'a> BulkRows<'a> {
    pub fn new(table: &'static str, columns: &'static [&'static str]) -> Self {
        Self {
            table,
            columns,
            cells: Vec::new(),
        }
    }

    /// Adds a row; its cells follow `columns`.
    pub fn push(&mut self, row: impl IntoIterator<Item = Cell<'a>>) {
        let before = self.cells.len();
        self.cells.extend(row);
        assert_eq!(
            self.cells.len() - before,
            self.columns.len(),
            "a row of {} has one cell per column",
            self.table
        );
    }

    pub fn len(&self) -> usize {
        self.cells.len() / self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    pub fn rows(&self) -> std::slice::ChunksExact<'_, Cell<'a>> {
        self.cells.chunks_exact(self.columns.len())
    }

    /// `table (columns)`, the head of an `INSERT`.
    pub fn column_list(&self) -> String {
        format!("{} ({})", self.table, self.columns.join(", "))
    }

    /// The values of column `index`, one per row, as one typed list (PostgreSQL binds each as an
    /// array and `UNNEST`s them into rows). The first row's cell gives the type; a row whose
    /// cell has another type is a bug in its caller.
    pub fn column(&self, index: usize) -> ColumnValues<'a> {
        let cells = self.rows().map(|row| row[index]);
        match self.cells.get(index) {
            Some(Cell::Uuid(_)) | None => ColumnValues::Uuids(
                cells
                    .map(|cell| match cell {
                        Cell::Uuid(id) => id,
                        other => panic!("{other:?} in a column of ids"),
                    })
                    .collect(),
            ),
            Some(Cell::Text(_)) => ColumnValues::Texts(
                cells
                    .map(|cell| match cell {
                        Cell::Text(text) => text,
                        other => panic!("{other:?} in a column of text"),
                    })
                    .collect(),
            ),
            Some(Cell::Int(_)) => ColumnValues::Ints(
                cells
                    .map(|cell| match cell {
                        Cell::Int(number) => number,
                        other => panic!("{other:?} in a column of integers"),
                    })
                    .collect(),
            ),
        }
    }
}

/// One column of [`BulkRows`], typed.
#[derive(Debug, PartialEq, Eq)]
pub enum ColumnValues<'a> {
    Uuids(Vec<Option<Uuid>>),
    Texts(Vec<Option<&'a str>>),
    Ints(Vec<i64>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_come_out_typed_in_row_order() {
        let id = Uuid::from_u128(7);
        let mut rows = BulkRows::new("t", &["id", "name", "n"]);
        rows.push([Cell::uuid(id), Cell::text("a\tb"), Cell::Int(-42)]);
        rows.push([Cell::Uuid(None), Cell::Text(None), Cell::Int(0)]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.column_list(), "t (id, name, n)");
        assert_eq!(rows.column(0), ColumnValues::Uuids(vec![Some(id), None]));
        assert_eq!(
            rows.column(1),
            ColumnValues::Texts(vec![Some("a\tb"), None])
        );
        assert_eq!(rows.column(2), ColumnValues::Ints(vec![-42, 0]));
    }

    #[test]
    #[should_panic(expected = "one cell per column")]
    fn a_row_with_a_missing_cell_is_a_bug() {
        let mut rows = BulkRows::new("t", &["a", "b"]);
        rows.push([Cell::Int(1)]);
    }
}
