//! kubectl-style tables: upper-case headers, left-aligned columns three spaces apart, colour
//! applied after padding so alignment survives escape codes.

use crate::style::{Role, paint};

/// One cell: its text and an optional colour role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The text.
    pub text: String,
    /// How to colour it.
    pub role: Option<Role>,
}

impl Cell {
    /// A cell coloured in `role`.
    pub fn styled(text: impl Into<String>, role: Role) -> Cell {
        Cell {
            text: text.into(),
            role: Some(role),
        }
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell {
            text: s.to_string(),
            role: None,
        }
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell { text: s, role: None }
    }
}

/// A table of rows under headers.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with these headers (shown upper-case).
    pub fn new<S: AsRef<str>>(headers: &[S]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.as_ref().to_uppercase()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra cells are an error in the caller.
    pub fn row(&mut self, cells: Vec<Cell>) {
        debug_assert!(cells.len() <= self.headers.len(), "row wider than the header");
        self.rows.push(cells);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Renders the table, each line ending in a newline, no trailing spaces.
    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(c.text.chars().count());
            }
        }
        let mut out = String::new();
        let header_cells: Vec<Cell> = self.headers.iter().map(|h| Cell::from(h.as_str())).collect();
        for (n, row) in std::iter::once(&header_cells).chain(self.rows.iter()).enumerate() {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i);
                let text = cell.map(|c| c.text.as_str()).unwrap_or("");
                let last = i + 1 == cols;
                let pad = if last { 0 } else { width - text.chars().count() + 3 };
                let shown = match (n, cell.and_then(|c| c.role)) {
                    (0, _) => text.to_string(),
                    (_, Some(role)) => paint(text, role),
                    _ => text.to_string(),
                };
                line.push_str(&shown);
                line.push_str(&" ".repeat(pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_three_spaces_apart() {
        let mut t = Table::new(&["Namespace", "Mode"]);
        t.row(vec!["istioinaction".into(), "STRICT".into()]);
        t.row(vec!["default".into(), Cell::styled("PERMISSIVE", Role::Warn)]);
        let out = t.render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "NAMESPACE       MODE");
        assert_eq!(lines[1], "istioinaction   STRICT");
        assert_eq!(lines[2], "default         PERMISSIVE");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn short_rows_leave_blank_cells_without_trailing_spaces() {
        let mut t = Table::new(&["a", "b", "c"]);
        t.row(vec!["x".into()]);
        assert_eq!(t.render(), "A   B   C\nx\n");
    }
}
