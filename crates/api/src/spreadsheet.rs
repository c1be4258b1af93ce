//! CSV cells that spreadsheets will not run: a cell starting with `=`, `+`, `-`, `@`, a tab or a
//! carriage return is read by Excel, LibreOffice and Google Sheets as a formula (CSV injection,
//! e.g. `=HYPERLINK(...)` or `=cmd|...`). Such a cell gets a leading `'`, which spreadsheets
//! treat as "text follows" and show without it.
//!
//! The escape is one-way: CSV here is an export for people and spreadsheets only. Nothing reads
//! CSV back in (prompt import and export use the JSON format), so no importer strips the `'`.

/// The cell, prefixed with `'` when a spreadsheet would take it as a formula.
pub fn safe_cell(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell }
}

/// [`safe_cell`] over a whole record.
pub fn safe_cells<const N: usize>(cells: [String; N]) -> [String; N] {
    cells.map(safe_cell)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_leading_cells_are_prefixed() {
        for (cell, expected) in [
            ("=HYPERLINK(\"http://evil.example\",\"x\")", "'=HYPERLINK(\"http://evil.example\",\"x\")"),
            ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
        ] {
            assert_eq!(safe_cell(cell.to_owned()), expected);
        }
        for cell in ["", "alice@acme.test", "{\"email\":\"=x\"}", "203.0.113.9", "a=b", " =1", "'=1"] {
            assert_eq!(safe_cell(cell.to_owned()), cell);
        }
    }
}
