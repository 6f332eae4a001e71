//! The CSV and workbook table readers on arbitrary bytes. The first byte picks the
//! reader and the columns; the rest is the file. They must never panic, and rows they
//! return are numbered from the data rows (after the header).
#![no_main]

use libfuzzer_sys::fuzz_target;

const COLUMNS: &[&str] = &["jira", "ado", "Jira", "ADO", "left", "right", ""];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else { return };
    let left = COLUMNS[usize::from(sel & 0x7) % COLUMNS.len()];
    let right = COLUMNS[usize::from((sel >> 3) & 0x7) % COLUMNS.len()];
    if sel & 0x80 == 0 {
        if let Ok(rows) = ferry_config::read_csv_bytes("fuzz.csv", bytes, left, right) {
            for r in rows {
                assert!(r.row >= 2, "a data row before the header: {r:?}");
            }
        }
    } else {
        let sheet = if sel & 0x40 == 0 { None } else { Some("Sheet1") };
        match ferry_config::read_xlsx_bytes("fuzz.xlsx", bytes, sheet, left, right) {
            Ok((_, rows)) => {
                for r in rows {
                    assert!(r.row >= 2, "a data row before the header: {r:?}");
                }
            }
            Err(e) => assert!(e.to_string().contains("fuzz.xlsx"), "error does not name the file: {e}"),
        }
    }
});
