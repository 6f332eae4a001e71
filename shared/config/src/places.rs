//! Where each key of the loaded files was written, for checks that run after loading
//! (`ferry check` asks the live systems about a field, a value or a filter and reports
//! the finding at the line that declared it).

use crate::yaml::{Kind, Node};
use std::collections::HashMap;

/// A place in a config file: `FILE:LINE:COL` and the key path, as load errors name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    /// Key path such as `integrations[0].fields[2].right`.
    pub path: String,
}

/// Every key path of the loaded files with its place, and under which path each
/// integration was declared.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Places {
    /// (file, key path) → (line, column).
    nodes: HashMap<(String, String), (usize, usize)>,
    /// Integration id → (file, `integrations[i]`).
    integrations: HashMap<String, (String, String)>,
}

impl Places {
    /// Records every node of one file's document.
    pub(crate) fn add_document(&mut self, file: &str, root: &Node) {
        walk(root, String::new(), &mut |path, node| {
            self.nodes.insert((file.to_string(), path.to_string()), (node.pos.line, node.pos.col));
        });
    }

    pub(crate) fn add_integration(&mut self, id: &str, file: &str, path: &str) {
        self.integrations.insert(id.to_string(), (file.to_string(), path.to_string()));
    }

    /// The place of `key` (a path relative to the integration's entry, such as
    /// `fields[2].right`) in integration `id`; the nearest enclosing key that was
    /// written when `key` itself was not (a default), the entry itself at last.
    pub fn in_integration(&self, id: &str, key: &str) -> Option<Place> {
        let (file, base) = self.integrations.get(id)?;
        let mut path = if key.is_empty() { base.clone() } else { format!("{base}.{key}") };
        loop {
            if let Some((line, column)) = self.nodes.get(&(file.clone(), path.clone())) {
                return Some(Place { file: file.clone(), line: *line, column: *column, path });
            }
            if path.len() <= base.len() {
                return None;
            }
            path = parent(&path).to_string();
        }
    }
}

/// The enclosing path: `a.b[2].c` → `a.b[2]` → `a.b` → `a`.
fn parent(path: &str) -> &str {
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    &path[..cut]
}

fn walk(node: &Node, path: String, visit: &mut dyn FnMut(&str, &Node)) {
    visit(&path, node);
    match &node.kind {
        Kind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{path}[{i}]"), visit);
            }
        }
        Kind::Map(entries) => {
            for (k, v) in entries {
                let Kind::Scalar { text, .. } = &k.kind else { continue };
                let p = if path.is_empty() { text.clone() } else { format!("{path}.{text}") };
                walk(v, p, visit);
            }
        }
        Kind::Scalar { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_of_an_integration_is_found_at_its_line_and_a_missing_one_at_its_parent() {
        let text =
            "integrations:\n  - id: a\n    fields:\n      - { left: x, right: y }\n      - left: p\n        right: q\n";
        let root = crate::yaml::parse(text).unwrap().unwrap();
        let mut places = Places::default();
        places.add_document("f.yaml", &root);
        places.add_integration("a", "f.yaml", "integrations[0]");
        let at = |k: &str| places.in_integration("a", k).map(|p| (p.line, p.path));
        assert_eq!(at("fields[1].right"), Some((6, "integrations[0].fields[1].right".into())));
        assert_eq!(at("fields[0].right").map(|p| p.0), Some(4));
        assert_eq!(at("fields[1].values.inline"), Some((5, "integrations[0].fields[1]".into())));
        assert_eq!(at("").map(|p| p.0), Some(2));
        assert_eq!(places.in_integration("b", "fields"), None);
    }

    #[test]
    fn parents_strip_one_key_or_index() {
        assert_eq!(parent("a.b[2].c"), "a.b[2]");
        assert_eq!(parent("a.b[2]"), "a.b");
        assert_eq!(parent("a"), "");
    }
}
