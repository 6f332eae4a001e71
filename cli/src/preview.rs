//! `ferry preview` as text: one block per source entity, the fields as `from → to`.

use ferry_domain::FieldValue;
use ferry_engine::{PreviewAction, PreviewEntity};

pub fn print(entities: &[PreviewEntity]) {
    if entities.is_empty() {
        println!("nothing to sync: no change waits in either direction");
    }
    for e in entities {
        let flow = e.flow.as_str();
        match &e.action {
            PreviewAction::Create { fields } => {
                println!("{} ({flow}): create, {} field(s)", e.source, fields.len());
                for f in fields {
                    println!("    {}: {}", f.field, shown(&f.to));
                }
            }
            PreviewAction::Update { target, fields, conflicts, resolved } => {
                println!("{} ({flow}): update {target}, {} field(s)", e.source, fields.len());
                for f in fields {
                    let from = f.from.as_ref().map_or("(not read)".to_string(), shown);
                    println!("    {}: {from} → {}", f.field, shown(&f.to));
                }
                for c in conflicts {
                    println!(
                        "    conflict on {}: source {} / target {} (last synced {}): parked for a person",
                        c.field,
                        shown(&c.source_value),
                        shown(&c.target_value),
                        shown(&c.base)
                    );
                }
                for (field, winner) in resolved {
                    println!("    conflict on {field}: {winner} wins by policy");
                }
            }
            PreviewAction::Unchanged { target } => {
                println!("{} ({flow}): unchanged {}", e.source, target.as_deref().unwrap_or(""))
            }
            PreviewAction::Skip { reason, detail } => println!("{} ({flow}): skipped ({reason}) {detail}", e.source),
            PreviewAction::Park { category, message } => {
                println!("{} ({flow}): would park a {} failure: {message}", e.source, category.as_str())
            }
            PreviewAction::Blocked { failure } => {
                println!("{} ({flow}): waits behind parked failure {failure}", e.source)
            }
        }
    }
}

/// A value on one line, long texts cut.
fn shown(v: &FieldValue) -> String {
    const MAX: usize = 80;
    let s = serde_json::to_string(v).unwrap_or_default();
    if s.chars().count() > MAX {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    } else {
        s
    }
}
