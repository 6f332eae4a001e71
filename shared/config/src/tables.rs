//! Value and user tables: inline, CSV or a spreadsheet (.xlsx) sheet.
//!
//! The first row holds the headers; columns are chosen by header. Rows whose two chosen
//! cells are both empty are skipped.

use crate::decode::{self, Ctx, Obj};
use crate::format;
use crate::yaml::{Kind, Node};
use calamine::{Data, Reader};
use ferry_domain::format_number;
use std::collections::HashMap;
use std::path::Path;

/// One data row of a table: its 1-based row number in the sheet (or line in the CSV) and
/// the two chosen cells, trimmed (empty when blank).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub row: usize,
    pub left: String,
    pub right: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("cannot read {file}: {reason}")]
    Unreadable { file: String, reason: String },
    #[error("{file} has no header row")]
    NoHeader { file: String },
    #[error("{file} has no sheet \"{sheet}\"")]
    NoSheet { file: String, sheet: String, available: Vec<String> },
    /// `available`: the header row's column names when it looks like a header row
    /// ([`column_names`]), else empty.
    #[error("{file} has no column \"{column}\"")]
    NoColumn { file: String, column: String, available: Vec<String> },
    #[error("{file} row {row}: {reason}")]
    BadCell { file: String, row: usize, reason: String },
}

/// Which of the two named columns an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Left,
    Right,
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

fn column_index(file: &str, headers: &[String], column: &str) -> Result<usize, TableError> {
    headers.iter().position(|h| h == column).ok_or_else(|| TableError::NoColumn {
        file: file.to_string(),
        column: column.to_string(),
        available: column_names(headers),
    })
}

/// Longest header cell taken for a column name.
const MAX_COLUMN_NAME: usize = 64;
/// Most cells a header row has.
const MAX_HEADER_CELLS: usize = 100;

/// The names of a header row, or nothing when the first row does not look like one
/// (too many or too long cells, control characters, `=`): a message may name columns,
/// never repeat what a file holds (a wrong path could point at secrets).
pub fn column_names(headers: &[String]) -> Vec<String> {
    let names: Vec<&String> = headers.iter().filter(|h| !h.is_empty()).collect();
    let plausible = |h: &str| h.chars().count() <= MAX_COLUMN_NAME && !h.chars().any(|c| c.is_control() || c == '=');
    if names.len() > MAX_HEADER_CELLS || !names.iter().all(|h| plausible(h)) {
        return Vec::new();
    }
    names.into_iter().cloned().collect()
}

/// At most this many names are listed in a hint.
const LISTED_NAMES: usize = 12;

/// `a, b, c` or `a, b, ... and 9 more`.
fn listed(names: &[String]) -> String {
    let mut out = names.iter().take(LISTED_NAMES).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > LISTED_NAMES {
        out.push_str(&format!(" and {} more", names.len() - LISTED_NAMES));
    }
    out
}

/// Reads two columns of a CSV file (comma separated, first line headers).
pub fn read_csv_table(path: &Path, left: &str, right: &str) -> Result<Vec<TableRow>, TableError> {
    let file = file_name(path);
    let reader =
        std::fs::File::open(path).map_err(|e| TableError::Unreadable { file: file.clone(), reason: e.to_string() })?;
    read_csv(file, reader, left, right)
}

/// [`read_csv_table`] on CSV text already in memory; `file` names it in errors.
pub fn read_csv_bytes(file: &str, bytes: &[u8], left: &str, right: &str) -> Result<Vec<TableRow>, TableError> {
    read_csv(file.to_string(), bytes, left, right)
}

fn read_csv<R: std::io::Read>(file: String, input: R, left: &str, right: &str) -> Result<Vec<TableRow>, TableError> {
    let unreadable = |e: &dyn std::fmt::Display| TableError::Unreadable { file: file.clone(), reason: e.to_string() };
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(input);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| unreadable(&e))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(TableError::NoHeader { file });
    }
    let li = column_index(&file, &headers, left)?;
    let ri = column_index(&file, &headers, right)?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| unreadable(&e))?;
        let row = record.position().map_or(0, |p| p.line() as usize);
        rows.push(TableRow {
            row,
            left: record.get(li).unwrap_or("").to_string(),
            right: record.get(ri).unwrap_or("").to_string(),
        });
    }
    Ok(rows)
}

/// Reads two columns of a sheet of a workbook (.xlsx, .xlsm, .xlsb, .xls or .ods).
/// `sheet: None` reads the first sheet. Returns the sheet's name too.
pub fn read_xlsx_table(
    path: &Path,
    sheet: Option<&str>,
    left: &str,
    right: &str,
) -> Result<(String, Vec<TableRow>), TableError> {
    let file = file_name(path);
    let unreadable = |reason: String| TableError::Unreadable { file: file.clone(), reason };
    let opened = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    crate::workbook_size::check(opened).map_err(unreadable)?;
    let book = calamine::open_workbook_auto(path).map_err(|e| unreadable(e.to_string()))?;
    read_workbook(file, book, sheet, left, right)
}

/// [`read_xlsx_table`] on a workbook already in memory (its format is detected from the
/// content); `file` names it in errors.
pub fn read_xlsx_bytes(
    file: &str,
    bytes: &[u8],
    sheet: Option<&str>,
    left: &str,
    right: &str,
) -> Result<(String, Vec<TableRow>), TableError> {
    let unreadable = |reason: String| TableError::Unreadable { file: file.to_string(), reason };
    crate::workbook_size::check(std::io::Cursor::new(bytes)).map_err(unreadable)?;
    let book =
        calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes)).map_err(|e| unreadable(e.to_string()))?;
    read_workbook(file.to_string(), book, sheet, left, right)
}

fn read_workbook<RS: std::io::Read + std::io::Seek>(
    file: String,
    mut book: calamine::Sheets<RS>,
    sheet: Option<&str>,
    left: &str,
    right: &str,
) -> Result<(String, Vec<TableRow>), TableError> {
    let names = book.sheet_names();
    let name = match sheet {
        Some(s) if names.iter().any(|n| n == s) => s.to_string(),
        Some(s) => return Err(TableError::NoSheet { file, sheet: s.to_string(), available: names }),
        None => names.first().cloned().ok_or(TableError::NoHeader { file: file.clone() })?,
    };
    let range = book
        .worksheet_range(&name)
        .map_err(|e| TableError::Unreadable { file: file.clone(), reason: e.to_string() })?;
    let Some((first_row, _)) = range.start() else {
        return Err(TableError::NoHeader { file });
    };
    let mut rows_iter = range.rows();
    let cell_text = |c: &Data, row: usize| -> Result<String, TableError> {
        match c {
            Data::Empty => Ok(String::new()),
            Data::String(s) => Ok(s.trim().to_string()),
            Data::Int(i) => Ok(i.to_string()),
            Data::Float(f) => Ok(format_number(*f)),
            Data::Bool(b) => Ok(b.to_string()),
            Data::DateTimeIso(s) | Data::DurationIso(s) => Ok(s.clone()),
            Data::DateTime(_) => Err(TableError::BadCell {
                file: file.clone(),
                row,
                reason: "a cell holds a date; format the column as text".into(),
            }),
            Data::Error(e) => {
                Err(TableError::BadCell { file: file.clone(), row, reason: format!("a cell holds the error {e}") })
            }
        }
    };
    let header_row = first_row as usize + 1;
    let headers: Vec<String> = match rows_iter.next() {
        Some(cells) => cells.iter().map(|c| cell_text(c, header_row)).collect::<Result<_, _>>()?,
        None => return Err(TableError::NoHeader { file }),
    };
    if headers.iter().all(String::is_empty) {
        return Err(TableError::NoHeader { file });
    }
    let li = column_index(&file, &headers, left)?;
    let ri = column_index(&file, &headers, right)?;
    let mut rows = Vec::new();
    for (i, cells) in rows_iter.enumerate() {
        let row = header_row + 1 + i;
        let get = |idx: usize| cells.get(idx).map_or(Ok(String::new()), |c| cell_text(c, row));
        rows.push(TableRow { row, left: get(li)?, right: get(ri)? });
    }
    Ok((name, rows))
}

/// What a table holds, for its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Values,
    Users,
}

/// Decodes `inline:`, `csv:` or `sheet:` into rows in left→right orientation and an origin.
/// Every row problem is reported, not just the first.
pub fn decode(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    base_dir: &Path,
    purpose: Purpose,
) -> Option<(Vec<(String, String)>, String)> {
    let obj = Obj::new(ctx, node, path, &format::TABLE)?;
    let given: Vec<&str> = ["inline", "csv", "sheet"].into_iter().filter(|k| obj.has(k)).collect();
    if given.len() != 1 {
        ctx.error(
            node.pos,
            path,
            if given.is_empty() {
                "the table is empty".to_string()
            } else {
                format!("give one of {}, not several", given.join(", "))
            },
            Some("use inline: { LEFT: RIGHT, ... }, csv: { file, left_column, right_column } or sheet: { file, sheet, left_column, right_column }".into()),
        );
        return None;
    }
    let key = given[0];
    let src = obj.get(key)?;
    let src_path = obj.path_of(key);
    let (rows, origin): (Vec<TableRow>, String) = match key {
        "inline" => (inline(ctx, src, &src_path)?, "inline".to_string()),
        _ => {
            let def = if key == "csv" { &format::CSV_TABLE } else { &format::SHEET_TABLE };
            let spec = Obj::new(ctx, src, &src_path, def)?;
            let file = spec.string(ctx, "file");
            let left = spec.string(ctx, "left_column");
            let right = spec.string(ctx, "right_column");
            let sheet = if key == "sheet" { spec.opt_str(ctx, "sheet").ok()? } else { None };
            let (file, left, right) = (file?, left?, right?);
            let file_node = spec.get("file")?;
            let full = match crate::confined::table_file(base_dir, &file) {
                Ok(full) => full,
                Err((message, hint)) => {
                    ctx.error(file_node.pos, &spec.path_of("file"), message, Some(hint));
                    return None;
                }
            };
            let is_csv_name = file.to_ascii_lowercase().ends_with(".csv");
            if key == "sheet" && is_csv_name {
                ctx.error(
                    file_node.pos,
                    &spec.path_of("file"),
                    "a CSV file is not a workbook",
                    Some("use csv: { file, left_column, right_column }".into()),
                );
                return None;
            }
            let read = if key == "csv" {
                read_csv_table(&full, &left, &right).map(|rows| (file.clone(), rows))
            } else {
                read_xlsx_table(&full, sheet.as_deref(), &left, &right)
                    .map(|(name, rows)| (format!("{file}#{name}"), rows))
            };
            match read {
                Ok((origin, rows)) => (rows, origin),
                Err(e) => {
                    report(ctx, &spec, &e, &left);
                    return None;
                }
            }
        }
    };
    check_rows(ctx, node, &obj.path_of(key), src, &origin, rows, purpose)
}

fn report(ctx: &mut Ctx, spec: &Obj, e: &TableError, left: &str) {
    let (key, hint) = match e {
        TableError::NoSheet { available, .. } => {
            ("sheet", Some(format!("sheets in the workbook: {}", listed(available))))
        }
        TableError::NoColumn { column, available, .. } => (
            if column == left { "left_column" } else { "right_column" },
            Some(if available.is_empty() {
                "the first row does not look like a header row of column names; put the names in the first row"
                    .to_string()
            } else {
                format!("columns in the header row: {}", listed(available))
            }),
        ),
        _ => ("file", None),
    };
    let pos = spec.get(key).or_else(|| spec.get("file")).map_or(spec.node.pos, |n| n.pos);
    ctx.error(pos, &spec.path_of(key), e.to_string(), hint);
}

fn inline(ctx: &mut Ctx, node: &Node, path: &str) -> Option<Vec<TableRow>> {
    let Kind::Map(entries) = &node.kind else {
        ctx.error(
            node.pos,
            path,
            format!("expected a mapping of left value: right value, found {}", node.type_name()),
            Some("e.g. inline: { Highest: 1, High: 2 }".into()),
        );
        return None;
    };
    let before = ctx.error_count();
    let mut rows = Vec::new();
    for (k, v) in entries {
        let left = decode::scalar_text(ctx, k, path);
        let right = if v.is_null() {
            ctx.error(v.pos, path, format!("no value for \"{}\"", left.as_deref().unwrap_or("")), None);
            None
        } else {
            decode::scalar_text(ctx, v, path)
        };
        if let (Some(left), Some(right)) = (left, right) {
            rows.push(TableRow { row: k.pos.line, left, right });
        }
    }
    (ctx.error_count() == before).then_some(rows)
}

/// Half-empty rows and ambiguous (repeated) left values are errors; blank rows are skipped.
/// Messages about a file's rows name the row, never its cells (see [`column_names`]);
/// an inline table's values are the config's own text and are quoted.
fn check_rows(
    ctx: &mut Ctx,
    table_node: &Node,
    path: &str,
    src: &Node,
    origin: &str,
    rows: Vec<TableRow>,
    purpose: Purpose,
) -> Option<(Vec<(String, String)>, String)> {
    let inline = origin == "inline";
    let before = ctx.error_count();
    let mut out = Vec::new();
    let mut first_row: HashMap<String, usize> = HashMap::new();
    let where_ = |row: usize| {
        if inline {
            format!("line {row}")
        } else {
            format!("{origin} row {row}")
        }
    };
    let quoted = |cell: &str| if inline { format!(" \"{cell}\"") } else { String::new() };
    for r in rows {
        let pos = if inline { crate::yaml::Pos { line: r.row, col: 1 } } else { src.pos };
        match (r.left.is_empty(), r.right.is_empty()) {
            (true, true) => continue,
            (true, false) | (false, true) => {
                let (empty, full, val) = if r.left.is_empty() {
                    (Which::Left, Which::Right, &r.right)
                } else {
                    (Which::Right, Which::Left, &r.left)
                };
                ctx.error(
                    pos,
                    path,
                    format!(
                        "{}: the {} cell is empty while the {} cell{} is not",
                        where_(r.row),
                        side(empty),
                        side(full),
                        quoted(val)
                    ),
                    Some("fill both cells or clear the row".into()),
                );
                continue;
            }
            _ => {}
        }
        if purpose == Purpose::Users {
            for (which, cell) in [(Which::Left, &r.left), (Which::Right, &r.right)] {
                if !cell.contains('@') {
                    ctx.error(
                        pos,
                        path,
                        format!("{}: the {} cell{} is not an e-mail address", where_(r.row), side(which), quoted(cell)),
                        None,
                    );
                }
            }
        }
        let key = match purpose {
            Purpose::Users => r.left.to_lowercase(),
            Purpose::Values => r.left.clone(),
        };
        if let Some(first) = first_row.get(&key) {
            ctx.error(
                pos,
                path,
                format!(
                    "{}: the left value{} is mapped again (first at {}); the mapping would be ambiguous",
                    where_(r.row),
                    quoted(&r.left),
                    if inline { format!("line {first}") } else { format!("row {first}") }
                ),
                Some("keep one row per left value".into()),
            );
            continue;
        }
        first_row.insert(key, r.row);
        out.push((r.left, r.right));
    }
    if ctx.error_count() > before {
        return None;
    }
    if out.is_empty() {
        ctx.error(
            if inline { src.pos } else { table_node.pos },
            path,
            if inline { "the inline table has no rows".to_string() } else { format!("{origin} has no rows") },
            Some("a table needs at least one row of two values".into()),
        );
        return None;
    }
    Some((out, origin.to_string()))
}

fn side(w: Which) -> &'static str {
    match w {
        Which::Left => "left",
        Which::Right => "right",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_str, ConfigErrors, ConfigSet};
    use ferry_domain::{Flow, ValueTable};
    use rust_xlsxwriter::Workbook;

    enum Cell<'a> {
        S(&'a str),
        N(f64),
        Blank,
    }
    use Cell::{Blank, N, S};

    fn workbook(path: &Path, sheets: &[(&str, &[&[Cell]])]) {
        let mut book = Workbook::new();
        for (name, rows) in sheets {
            let ws = book.add_worksheet();
            ws.set_name(*name).unwrap();
            for (r, row) in rows.iter().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    match cell {
                        S(s) => {
                            ws.write_string(r as u32, c as u16, *s).unwrap();
                        }
                        N(n) => {
                            ws.write_number(r as u32, c as u16, *n).unwrap();
                        }
                        Blank => {}
                    }
                }
            }
        }
        book.save(path).unwrap();
    }

    fn config(table: &str) -> String {
        format!(
            "systems:
  - {{ id: j, kind: jira, base_url: https://j.example, auth: {{ kind: basic, username: b@x.test, token: {{ env: T }} }} }}
  - {{ id: a, kind: azure_devops, base_url: https://a.example, integration_user: b@x.test, auth: {{ kind: pat, token: {{ env: P }} }} }}
integrations:
  - id: i
    left: {{ system: j, project: P, type: Bug }}
    right: {{ system: a, project: P, type: Bug }}
    fields:
      - left: priority
        right: Microsoft.VSTS.Common.Priority
        values: {table}
"
        )
    }

    fn load_table(dir: &Path, table: &str) -> Result<ValueTable, ConfigErrors> {
        let set: ConfigSet = load_str("t.yaml", &config(table), dir)?;
        Ok(set.integrations[0].fields[0].values.clone().unwrap())
    }

    #[test]
    fn xlsx_numbers_lose_the_trailing_zero_and_blank_rows_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.xlsx");
        workbook(
            &path,
            &[
                ("Other", &[&[S("x")]]),
                (
                    "Priority",
                    &[
                        &[S("Note"), S("Jira"), S("ADO")],
                        &[S("top"), S("Highest"), N(1.0)],
                        &[Blank, Blank, Blank],
                        &[S("only a note"), Blank, Blank],
                        &[Blank, S("High"), N(2.0)],
                        &[Blank, S("Half"), N(2.5)],
                        &[Blank, S("Low"), N(4.0)],
                        &[Blank, S("Lowest"), N(4.0)],
                    ],
                ),
            ],
        );
        let (name, rows) = read_xlsx_table(&path, Some("Priority"), "Jira", "ADO").unwrap();
        assert_eq!(name, "Priority");
        assert_eq!(rows[0], TableRow { row: 2, left: "Highest".into(), right: "1".into() });
        let t = load_table(
            dir.path(),
            "{ sheet: { file: p.xlsx, sheet: Priority, left_column: Jira, right_column: ADO } }",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.origin, "p.xlsx#Priority");
        assert_eq!(t.rows.len(), 5);
        assert_eq!(t.lookup(Flow::LeftToRight, "High"), Some("2"));
        assert_eq!(t.lookup(Flow::LeftToRight, "Half"), Some("2.5"));
        // Reverse lookup swaps the columns; the first row wins.
        assert_eq!(t.lookup(Flow::RightToLeft, "4"), Some("Low"));
        assert_eq!(t.lookup(Flow::RightToLeft, "1"), Some("Highest"));
    }

    #[test]
    fn xlsx_without_a_sheet_name_reads_the_first_sheet() {
        let dir = tempfile::tempdir().unwrap();
        workbook(&dir.path().join("p.xlsx"), &[("First", &[&[S("L"), S("R")], &[S("a"), S("b")]])]);
        let t = load_table(dir.path(), "{ sheet: { file: p.xlsx, left_column: L, right_column: R } }")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.origin, "p.xlsx#First");
        assert_eq!(t.rows, vec![("a".into(), "b".into())]);
    }

    #[test]
    fn half_empty_and_repeated_rows_are_errors_with_their_sheet_rows() {
        let dir = tempfile::tempdir().unwrap();
        workbook(
            &dir.path().join("p.xlsx"),
            &[("S", &[&[S("L"), S("R")], &[S("a"), S("1")], &[S("b"), Blank], &[Blank, S("3")], &[S("a"), S("4")]])],
        );
        let errs = load_table(dir.path(), "{ sheet: { file: p.xlsx, sheet: S, left_column: L, right_column: R } }")
            .unwrap_err();
        let msgs: Vec<&str> = errs.0.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "p.xlsx#S row 3: the right cell is empty while the left cell is not",
                "p.xlsx#S row 4: the left cell is empty while the right cell is not",
                "p.xlsx#S row 5: the left value is mapped again (first at row 2); the mapping would be ambiguous",
            ],
            "{errs}"
        );
        assert!(errs.0.iter().all(|e| e.line == Some(11)), "{errs}");
    }

    #[test]
    fn missing_sheet_and_column_list_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        workbook(&dir.path().join("p.xlsx"), &[("Alpha", &[&[S("L"), S("R")]]), ("Beta", &[&[S("x")]])]);
        let errs = load_table(dir.path(), "{ sheet: { file: p.xlsx, sheet: Gamma, left_column: L, right_column: R } }")
            .unwrap_err();
        assert_eq!(errs.0[0].path, "integrations[0].fields[0].values.sheet.sheet");
        assert_eq!(errs.0[0].hint.as_deref(), Some("sheets in the workbook: Alpha, Beta"));
        let errs =
            load_table(dir.path(), "{ sheet: { file: p.xlsx, sheet: Alpha, left_column: L, right_column: Right } }")
                .unwrap_err();
        assert_eq!(errs.0[0].path, "integrations[0].fields[0].values.sheet.right_column");
        assert_eq!(errs.0[0].hint.as_deref(), Some("columns in the header row: L, R"));
        // Only a header: no rows.
        let errs = load_table(dir.path(), "{ sheet: { file: p.xlsx, sheet: Alpha, left_column: L, right_column: R } }")
            .unwrap_err();
        assert!(errs.0[0].message.contains("has no rows"), "{errs}");
    }

    #[test]
    fn bytes_entry_points_read_like_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.xlsx");
        workbook(&path, &[("S", &[&[S("L"), S("R")], &[S("a"), N(1.0)]])]);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            read_xlsx_bytes("p.xlsx", &bytes, Some("S"), "L", "R").unwrap(),
            read_xlsx_table(&path, Some("S"), "L", "R").unwrap()
        );
        let csv = b"L,R\na,1\n";
        std::fs::write(dir.path().join("t.csv"), csv).unwrap();
        assert_eq!(
            read_csv_bytes("t.csv", csv, "L", "R").unwrap(),
            read_csv_table(&dir.path().join("t.csv"), "L", "R").unwrap()
        );
    }

    #[test]
    fn corrupt_workbooks_and_csv_are_unreadable_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.xlsx");
        workbook(&path, &[("S", &[&[S("L"), S("R")], &[S("a"), S("b")]])]);
        let whole = std::fs::read(&path).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("truncated", whole[..whole.len() / 2].to_vec()),
            ("not a workbook", b"L,R\na,b\n".to_vec()),
            ("empty", Vec::new()),
            ("a zip without a workbook", [&whole[..30], &[0u8; 100][..]].concat()),
        ];
        for (name, bytes) in cases {
            let e = read_xlsx_bytes("p.xlsx", &bytes, None, "L", "R").unwrap_err();
            assert!(matches!(e, TableError::Unreadable { ref file, .. } if file == "p.xlsx"), "{name}: {e:?}");
            // Through a config file: reported at the `file:` key of the table.
            std::fs::write(&path, &bytes).unwrap();
            let errs =
                load_table(dir.path(), "{ sheet: { file: p.xlsx, left_column: L, right_column: R } }").unwrap_err();
            assert_eq!(errs.0[0].path, "integrations[0].fields[0].values.sheet.file", "{name}: {errs}");
            assert_eq!(errs.0[0].line, Some(11), "{name}: {errs}");
            assert!(errs.0[0].message.starts_with("cannot read p.xlsx: "), "{name}: {errs}");
        }
        let e = read_csv_bytes("s.csv", b"L,R\na,\xff\xfe\n", "L", "R").unwrap_err();
        assert!(
            matches!(&e, TableError::Unreadable { file, reason } if file == "s.csv" && reason.contains("UTF-8")),
            "{e:?}"
        );
        let e = read_csv_bytes("s.csv", b"", "L", "R").unwrap_err();
        assert_eq!(e, TableError::NoHeader { file: "s.csv".into() });
    }

    #[test]
    fn csv_rows_report_their_line_and_reverse_lookup_swaps_columns() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.csv"), "\u{feff}jira, ado ,x\nTo Do,New,1\n\n Done , Closed\nOpen,New\n")
            .unwrap();
        let t = load_table(dir.path(), "{ csv: { file: s.csv, left_column: jira, right_column: ado } }")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t.rows,
            vec![("To Do".into(), "New".into()), ("Done".into(), "Closed".into()), ("Open".into(), "New".into())]
        );
        assert_eq!(t.lookup(Flow::RightToLeft, "New"), Some("To Do"));
        std::fs::write(dir.path().join("bad.csv"), "jira,ado\nTo Do,New\nDone,\n").unwrap();
        let errs =
            load_table(dir.path(), "{ csv: { file: bad.csv, left_column: jira, right_column: ado } }").unwrap_err();
        assert_eq!(errs.0[0].message, "bad.csv row 3: the right cell is empty while the left cell is not");
    }

    #[test]
    fn inline_tables_format_numbers_and_report_repeats_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let t = load_table(dir.path(), "{ inline: { 1.0: 2, x: true, y: 2.5 } }").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.rows, vec![("1".into(), "2".into()), ("x".into(), "true".into()), ("y".into(), "2.5".into())]);
        let errs = load_table(dir.path(), "{ inline: { a: 1, b: [2] } }").unwrap_err();
        assert_eq!(errs.0[0].line, Some(11));
        let errs = load_table(dir.path(), "{ inline: { a: 1, b: } }").unwrap_err();
        assert!(errs.0[0].message.contains("no value for \"b\""), "{errs}");
    }

    #[test]
    fn user_tables_reject_non_emails_and_case_insensitive_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let text = config("{ inline: { a: 1 } }").replace(
            "    fields:\n",
            "    users: { inline: { Carol@x.test: c@y.test, carol@x.test: d@y.test, bob: b@y.test } }\n    fields:\n",
        );
        let errs = load_str("t.yaml", &text, dir.path()).unwrap_err();
        let msgs: Vec<&str> = errs.0.iter().map(|e| e.message.as_str()).collect();
        assert!(msgs.iter().any(|m| m.contains("\"carol@x.test\" is mapped again")), "{errs}");
        assert!(msgs.iter().any(|m| m.contains("\"bob\" is not an e-mail address")), "{errs}");
        assert!(errs.0.iter().all(|e| e.path == "integrations[0].users.inline"), "{errs}");
    }

    #[test]
    fn inline_values_are_quoted_in_messages_and_file_cells_never_are() {
        let dir = tempfile::tempdir().unwrap();
        let errs = load_table(dir.path(), "{ inline: { a: 1, b: \"\" } }").unwrap_err();
        assert!(errs.0[0].message.contains("the left cell \"b\" is not"), "{errs}");
        std::fs::write(dir.path().join("t.csv"), "L,R\nsecret-cell,\n").unwrap();
        let errs = load_table(dir.path(), "{ csv: { file: t.csv, left_column: L, right_column: R } }").unwrap_err();
        assert!(!errs.to_string().contains("secret-cell"), "{errs}");
    }

    #[test]
    fn a_table_file_outside_the_config_directory_is_refused_and_its_content_never_shown() {
        std::env::set_var("FERRY_TABLES_TEST_CANARY", "canary-6f1d");
        let root = tempfile::tempdir().unwrap();
        let config_dir = root.path().join("config");
        std::fs::create_dir(&config_dir).unwrap();
        std::fs::write(root.path().join("secrets.csv"), "API_TOKEN=canary-6f1d\nx\n").unwrap();
        for file in ["/proc/self/environ", "../secrets.csv"] {
            let table = format!("{{ csv: {{ file: \"{file}\", left_column: a, right_column: b }} }}");
            let errs = load_table(&config_dir, &table).unwrap_err();
            assert_eq!(errs.0.len(), 1, "{errs}");
            assert_eq!(errs.0[0].path, "integrations[0].fields[0].values.csv.file", "{errs}");
            assert_eq!(errs.0[0].line, Some(11), "{errs}");
            assert!(errs.0[0].message.contains("outside the config file's directory"), "{errs}");
            assert!(!errs.to_string().contains("canary-6f1d"), "{errs}");
        }
    }

    #[test]
    fn a_missing_column_hint_lists_capped_names_of_a_real_header_row_only() {
        let dir = tempfile::tempdir().unwrap();
        let many: Vec<String> = (1..=20).map(|i| format!("c{i}")).collect();
        std::fs::write(dir.path().join("wide.csv"), format!("{}\n", many.join(","))).unwrap();
        std::fs::write(dir.path().join("env.csv"), "TOKEN=canary-6f1d,PATH=/bin\nx,y\n").unwrap();
        let long = "y".repeat(200);
        std::fs::write(dir.path().join("long.csv"), format!("a,{long}\n")).unwrap();
        let hint = |file: &str| {
            let table = format!("{{ csv: {{ file: {file}, left_column: L, right_column: R }} }}");
            load_table(dir.path(), &table).unwrap_err().0[0].hint.clone().unwrap_or_default()
        };
        assert_eq!(
            hint("wide.csv"),
            "columns in the header row: c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12 and 8 more"
        );
        for file in ["env.csv", "long.csv"] {
            let h = hint(file);
            assert!(h.contains("does not look like a header row"), "{file}: {h}");
            assert!(!h.contains("canary") && !h.contains(&long), "{file}: {h}");
        }
    }

    #[test]
    fn a_workbook_that_unpacks_past_the_limit_is_refused_before_it_is_parsed() {
        let bomb = crate::workbook_size::tests::zeros_zip(crate::workbook_size::MAX_UNPACKED_BYTES + 1);
        assert!(bomb.len() < 1 << 20, "the bomb is small: {} bytes", bomb.len());
        let e = read_xlsx_bytes("bomb.xlsx", &bomb, None, "L", "R").unwrap_err();
        assert!(
            matches!(&e, TableError::Unreadable { file, reason } if file == "bomb.xlsx" && reason.contains("unpacks to more than 64 MiB")),
            "{e:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bomb.xlsx"), &bomb).unwrap();
        let errs =
            load_table(dir.path(), "{ sheet: { file: bomb.xlsx, left_column: L, right_column: R } }").unwrap_err();
        assert_eq!(errs.0[0].path, "integrations[0].fields[0].values.sheet.file", "{errs}");
        assert!(errs.0[0].message.contains("zip bomb"), "{errs}");
    }
}
