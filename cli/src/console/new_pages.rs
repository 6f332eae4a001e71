//! The pages of the "new integration" flow (pure: data in, HTML out). Each step is a
//! form whose hidden fields carry the choices made so far, so the flow needs no script
//! and no server-side session until the proposal is saved.

use super::html::{esc, page, url_part};
use crate::init::matching::MappingKind;
use crate::init::Proposal;
use ferry_domain::{EntityTypeInfo, ProjectInfo};
use serde::Deserialize;
use std::fmt::Write;

/// The choices made so far (query parameters of the GET steps).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Walk {
    pub id: String,
    pub left: String,
    pub right: String,
    pub left_project: String,
    pub right_project: String,
    pub left_type: String,
    pub right_type: String,
}

impl Walk {
    /// The choices as hidden inputs (the ones made).
    fn hidden(&self) -> String {
        let mut out = String::new();
        for (name, value) in [
            ("id", &self.id),
            ("left", &self.left),
            ("right", &self.right),
            ("left_project", &self.left_project),
            ("right_project", &self.right_project),
            ("left_type", &self.left_type),
            ("right_type", &self.right_type),
        ] {
            if !value.is_empty() {
                let _ = write!(out, "<input type=\"hidden\" name=\"{name}\" value=\"{}\">", esc(value));
            }
        }
        out
    }
}

/// A proposal as the person edits it: the integration's YAML (the source of truth) and
/// the status table it names.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Draft {
    pub id: String,
    pub yaml: String,
    #[serde(default)]
    pub status_file: String,
    #[serde(default)]
    pub status_csv: String,
}

const STEPS: [&str; 6] = ["Systems", "Projects", "Entity types", "Fields and values", "Check", "Save"];

/// The flow's page: the steps with the current one marked, then `body`.
fn step_page(step: usize, note: Option<&str>, body: &str) -> String {
    let mut nav = String::from("<ol class=\"steps\" id=\"steps\">");
    for (i, name) in STEPS.iter().enumerate() {
        let _ = match i.cmp(&step) {
            std::cmp::Ordering::Equal => write!(nav, "<li><strong>{name}</strong></li>"),
            _ => write!(nav, "<li>{name}</li>"),
        };
    }
    nav.push_str("</ol>");
    page(&format!("New integration: {}", STEPS[step].to_lowercase()), note, &format!("{nav}{body}"))
}

fn select(name: &str, options: &[(String, String)], chosen: &str) -> String {
    let mut out = format!("<select name=\"{name}\" id=\"{name}\">");
    for (value, label) in options {
        let sel = if value == chosen { " selected" } else { "" };
        let _ = write!(out, "<option value=\"{}\"{sel}>{}</option>", esc(value), esc(label));
    }
    out.push_str("</select>");
    out
}

fn next_form(action: &str, walk: &Walk, inputs: &str) -> String {
    format!(
        "<form method=\"get\" action=\"{action}\">{}{inputs}<p><button type=\"submit\" class=\"go\" id=\"next\">Next \
         →</button></p></form>",
        walk.hidden()
    )
}

/// Step 1: the two systems, from those applied to the store (`(id, kind)`).
pub fn systems(systems: &[(String, String)], walk: &Walk) -> String {
    if systems.is_empty() {
        return step_page(
            0,
            None,
            "<p>No system is configured yet: declare them under <code>systems:</code> in a config file and \
             <code>ferry apply</code> it.</p>",
        );
    }
    let options: Vec<(String, String)> =
        systems.iter().map(|(id, kind)| (id.clone(), format!("{id} ({kind})"))).collect();
    let right_default = match walk.right.as_str() {
        "" => systems.get(1).map(|s| s.0.clone()).unwrap_or_default(),
        chosen => chosen.to_string(),
    };
    let inputs = format!(
        "<table><tr><th>Left system</th><td>{}</td></tr><tr><th>Right system</th><td>{}</td></tr>\
         <tr><th>Integration id</th><td><input name=\"id\" id=\"id\" value=\"{}\" size=\"24\"> (letters, digits, \
         - and _; empty: from the projects and type)</td></tr></table>",
        select("left", &options, &walk.left),
        select("right", &options, &right_default),
        esc(&walk.id)
    );
    step_page(0, None, &next_form("/new/projects", &Walk::default(), &inputs))
}

/// Step 2: a project on each side.
pub fn projects(walk: &Walk, left: &[ProjectInfo], right: &[ProjectInfo]) -> String {
    let opts = |ps: &[ProjectInfo]| -> Vec<(String, String)> {
        ps.iter().map(|p| (p.key.clone(), format!("{} ({})", p.name, p.key))).collect()
    };
    let inputs = format!(
        "<table><tr><th>{} project</th><td>{}</td></tr><tr><th>{} project</th><td>{}</td></tr></table>",
        esc(&walk.left),
        select("left_project", &opts(left), &walk.left_project),
        esc(&walk.right),
        select("right_project", &opts(right), &walk.right_project)
    );
    step_page(1, None, &next_form("/new/types", walk, &inputs))
}

/// Step 3: an entity type on each side.
pub fn types(walk: &Walk, left: &[EntityTypeInfo], right: &[EntityTypeInfo]) -> String {
    let opts = |ts: &[EntityTypeInfo]| -> Vec<(String, String)> {
        ts.iter().map(|t| (t.name.clone(), format!("{} ({} states)", t.name, t.states.len()))).collect()
    };
    let inputs = format!(
        "<table><tr><th>{}/{} type</th><td>{}</td></tr><tr><th>{}/{} type</th><td>{}</td></tr></table>",
        esc(&walk.left),
        esc(&walk.left_project),
        select("left_type", &opts(left), &walk.left_type),
        esc(&walk.right),
        esc(&walk.right_project),
        select("right_type", &opts(right), &walk.right_type)
    );
    step_page(2, None, &next_form("/new/fields", walk, &inputs))
}

/// Step 4: the proposed fields and value maps, the gaps, and the files to edit.
pub fn fields(draft: &Draft, proposal: &Proposal, csrf: &str) -> String {
    let mut b = String::from(
        "<table id=\"fields\"><tr><th>Left field</th><th>Right field</th><th>Kind</th><th>Why</th>\
         <th>Values (left → right)</th></tr>",
    );
    for f in &proposal.fields {
        let kind = match f.pair.kind {
            MappingKind::Plain => "plain",
            MappingKind::RichText => "rich text",
            MappingKind::Status => "status",
            MappingKind::User => "user",
        };
        let values = match &f.values {
            None => String::new(),
            Some(t) => {
                let mut v: Vec<String> = t.rows.iter().map(|(l, r)| format!("{} → {}", esc(l), esc(r))).collect();
                for (side, list) in [("left", &t.left_unmatched), ("right", &t.right_unmatched)] {
                    if !list.is_empty() {
                        v.push(format!("<span class=\"bad\">{side} without a match: {}</span>", esc(&list.join(", "))));
                    }
                }
                v.join("<br>")
            }
        };
        let _ = write!(
            b,
            "<tr><td>{} ({})</td><td>{} ({})</td><td>{kind}</td><td>{}</td><td>{values}</td></tr>",
            esc(f.pair.left.key.as_str()),
            esc(&f.pair.left.name),
            esc(f.pair.right.key.as_str()),
            esc(&f.pair.right.name),
            esc(f.pair.because)
        );
    }
    b.push_str("</table>");
    let _ = write!(b, "<h2>Gaps left to you ({})</h2><ul id=\"gaps\">", proposal.gaps.len());
    for g in &proposal.gaps {
        let _ = write!(b, "<li class=\"gap-{}\"><strong>{}</strong>: {}</li>", g.kind, g.kind, esc(&g.message));
    }
    b.push_str(
        "</ul><p>Each gap is marked <code>GAP:</code> in the files below. Edit them here (the value tables, \
         the status table, fields to add or drop), then check them against the live systems.</p>",
    );
    b.push_str(&draft_form(draft, csrf, false));
    step_page(3, None, &b)
}

/// The editable files, with Check (and, once checked, Save) buttons.
fn draft_form(draft: &Draft, csrf: &str, checked: bool) -> String {
    let rows = |text: &str| text.lines().count().clamp(4, 40);
    let mut f = format!(
        "<form method=\"post\" action=\"/new/check\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"id\" value=\"{}\"><input type=\"hidden\" name=\"status_file\" value=\"{}\">\
         <h2>{}.yaml</h2><textarea name=\"yaml\" id=\"yaml\" rows=\"{}\" cols=\"110\" spellcheck=\"false\">{}</textarea>",
        esc(csrf),
        esc(&draft.id),
        esc(&draft.status_file),
        esc(&draft.id),
        rows(&draft.yaml),
        esc(&draft.yaml)
    );
    let _ = write!(
        f,
        "<h2>{}</h2><textarea name=\"status_csv\" id=\"status_csv\" rows=\"{}\" cols=\"110\" spellcheck=\"false\">{}</textarea>",
        esc(&draft.status_file),
        rows(&draft.status_csv),
        esc(&draft.status_csv)
    );
    f.push_str("<p><button type=\"submit\" class=\"go\" id=\"check\">Check against the live systems</button>");
    if checked {
        f.push_str(
            " <label><input type=\"checkbox\" name=\"activate\" value=\"on\" id=\"activate\"> apply it to the store \
             and activate it now (only when the check finds nothing)</label> <button type=\"submit\" class=\"go\" \
             id=\"save\" formaction=\"/new/save\">Save</button>",
        );
    }
    f.push_str("</p></form>");
    f
}

/// Step 5: what `ferry check` finds in the files (`FILE:LINE: key: message` each).
pub fn checked(draft: &Draft, findings: &[String], csrf: &str, note: Option<&str>) -> String {
    let mut b = if findings.is_empty() {
        String::from("<p id=\"no-findings\" class=\"on\">No findings: the integration matches its live systems.</p>")
    } else {
        let mut b = format!("<p class=\"bad\">{} finding(s):</p><ul id=\"findings\">", findings.len());
        for f in findings {
            let _ = write!(b, "<li>{}</li>", esc(f));
        }
        b.push_str("</ul>");
        b
    };
    b.push_str(&draft_form(draft, csrf, true));
    step_page(4, note, &b)
}

/// Step 6: the saved files to download (and commit), and whether it was activated.
pub fn saved(draft: &Draft, key: &str, outcome: &str) -> String {
    let link = |file: &str, id: &str| {
        format!(
            "<a href=\"/new/saved/{}/{}\" id=\"{id}\" download=\"{}\">{}</a>",
            url_part(key),
            url_part(file),
            esc(file),
            esc(file)
        )
    };
    let yaml_file = format!("{}.yaml", draft.id);
    let mut b = format!(
        "<p id=\"outcome\">{}</p><p>Download the files and commit them: <strong>the YAML is the source of truth</strong> \
         (apply it again with <code>ferry apply</code> after each change). {}",
        esc(outcome),
        link(&yaml_file, "download-yaml")
    );
    if !draft.status_csv.trim().is_empty() {
        let _ = write!(b, " · {}", link(&draft.status_file, "download-status"));
    }
    let _ = write!(b, "</p><pre id=\"saved-yaml\">{}</pre>", esc(&draft.yaml));
    step_page(5, None, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_carries_the_choices_made_before_it() {
        let walk = Walk { id: "bugs".into(), left: "jira".into(), right: "ado".into(), ..Walk::default() };
        let page = projects(
            &walk,
            &[ProjectInfo { id: "1".into(), key: "APP".into(), name: "App <x>".into() }],
            &[ProjectInfo { id: "2".into(), key: "App".into(), name: "App".into() }],
        );
        for hidden in ["name=\"id\" value=\"bugs\"", "name=\"left\" value=\"jira\"", "name=\"right\" value=\"ado\""] {
            assert!(page.contains(hidden), "{hidden} in {page}");
        }
        assert!(!page.contains("name=\"left_project\" value"), "a choice not made yet is not carried");
        assert!(page.contains("App &lt;x&gt; (APP)"), "names are escaped");
    }

    #[test]
    fn save_is_offered_only_once_the_files_were_checked() {
        let draft = Draft { id: "bugs".into(), yaml: "integrations: []\n<".into(), ..Draft::default() };
        let first = draft_form(&draft, "tok", false);
        assert!(first.contains("id=\"check\"") && !first.contains("id=\"save\""), "{first}");
        let after = checked(&draft, &["bugs.yaml:3:5: fields[0].left: no such field".into()], "tok", None);
        assert!(after.contains("id=\"save\"") && after.contains("bugs.yaml:3:5"), "{after}");
        assert!(after.contains("integrations: []\n&lt;</textarea>"), "the YAML is escaped in the textarea");
        assert!(checked(&draft, &[], "tok", None).contains("id=\"no-findings\""));
    }
}
