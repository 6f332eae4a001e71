//! Writes the example workbooks of /examples (severity.xlsx, users.xlsx) and the JSON
//! Schema of the config format (ferry.schema.json).
//! Run: `cargo run -p ferry-config --example make_example_sheets -- examples`
use rust_xlsxwriter::Workbook;
use std::path::PathBuf;

fn write(path: PathBuf, sheet: &str, rows: &[[&str; 2]]) -> Result<(), Box<dyn std::error::Error>> {
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name(sheet)?;
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, *cell)?;
        }
    }
    book.save(&path)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "examples".into()));
    write(
        dir.join("severity.xlsx"),
        "Severity",
        &[["Jira", "ADO"], ["Critical", "1 - Critical"], ["Major", "2 - High"], ["Minor", "3 - Medium"]],
    )?;
    write(dir.join("users.xlsx"), "Users", &[["Jira", "ADO"], ["carol@acme.test", "carol.w@acme.test"]])?;
    let schema = serde_json::to_string_pretty(&ferry_config::json_schema())? + "\n";
    std::fs::write(dir.join("ferry.schema.json"), schema)?;
    println!("wrote {}", dir.join("ferry.schema.json").display());
    Ok(())
}
