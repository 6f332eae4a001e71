//! The console's pages, rendered from what the handlers read (pure functions: data in,
//! HTML out).

use super::html::{age, button, esc, page, time, url_part};
use chrono::{DateTime, Utc};
use ferry_domain::{
    Activity, ErrorCategory, FailureRecord, FieldKey, FieldValue, Flow, FlowPace, ListedFailure, Side,
    UnreadableFailure,
};
use ferry_engine::IntegrationStatus;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Failures per page of the list.
pub const FAILURES_PAGE: usize = 50;

/// One integration with each direction's pace and lag (seconds).
pub struct IntegrationView {
    pub status: IntegrationStatus,
    pub pace: Vec<(FlowPace, i64)>,
}

pub fn login(failed: bool) -> String {
    let note = failed.then_some("That token is not the console's token.");
    let body = "<form method=\"post\" action=\"/login\"><p><label>Token <input type=\"password\" name=\"token\" \
                id=\"token\" autofocus></label> <button type=\"submit\" id=\"login\">Sign in</button></p></form>\
                <p>The console was started with <code>--token-from-env</code>: ask whoever started it.</p>";
    page("Sign in", note, body)
}

pub fn integrations(views: &[IntegrationView], csrf: &str, note: Option<&str>, now: DateTime<Utc>) -> String {
    let mut b = String::from(
        "<table id=\"integrations\"><tr><th>Integration</th><th>Left</th><th>Right</th><th>Links</th>\
         <th>Direction</th><th>Last poll</th><th>Lag</th><th>Written (last hour)</th><th>Synced</th>\
         <th>Open failures</th><th></th></tr>",
    );
    for v in views {
        integration_rows(&mut b, v, csrf, now);
    }
    b.push_str("</table>");
    b.push_str(
        "<form method=\"get\" action=\"/timeline\"><p>Timeline of an entity: integration \
         <input name=\"integration\" size=\"16\"> side <select name=\"side\"><option>left</option><option>right</option>\
         </select> entity id <input name=\"entity\" size=\"10\"> <button type=\"submit\">Open</button></p></form>\
         <p>Lag is the age of the oldest change read but not yet written: in flight (counted from the minute \
         it was read) or parked (from when it first failed). A change made after the last poll is not read yet.</p>",
    );
    page("Integrations", note, &b)
}

fn integration_rows(b: &mut String, v: &IntegrationView, csrf: &str, now: DateTime<Utc>) {
    let s = &v.status;
    let rows = s.flows.len().max(1);
    let (state, action) = if s.active {
        (
            "<span class=\"on\">active</span>",
            button(
                &format!("/integrations/{}/deactivate", url_part(&s.integration)),
                "Deactivate",
                "stop",
                csrf,
                "/",
                &format!("deactivate-{}", s.integration),
            ),
        )
    } else {
        (
            "<span class=\"off\">inactive</span>",
            button(
                &format!("/integrations/{}/activate", url_part(&s.integration)),
                "Activate",
                "go",
                csrf,
                "/",
                &format!("activate-{}", s.integration),
            ),
        )
    };
    let _ = write!(
        b,
        "<tr id=\"integration-{id}\"><td rowspan=\"{rows}\"><strong>{id}</strong><br>{state} (v{ver})</td>\
         <td rowspan=\"{rows}\">{l}</td><td rowspan=\"{rows}\">{r}</td><td rowspan=\"{rows}\" class=\"num\">{links}</td>",
        id = esc(&s.integration),
        ver = s.version,
        l = esc(&s.left),
        r = esc(&s.right),
        links = s.links
    );
    if s.flows.is_empty() {
        let _ = write!(b, "<td colspan=\"6\">no direction</td><td>{action}</td></tr>");
    }
    for (i, f) in s.flows.iter().enumerate() {
        if i > 0 {
            b.push_str("<tr>");
        }
        let (pace, lag) = v.pace.get(i).copied().unwrap_or_default();
        let failures = if f.open_failures == 0 {
            "0".to_string()
        } else {
            format!(
                "<a class=\"bad\" href=\"/failures?integration={}\">{}</a>{}",
                url_part(&s.integration),
                f.open_failures,
                if f.conflicts > 0 { format!(" ({} conflicts)", f.conflicts) } else { String::new() }
            )
        };
        let last_poll = match f.last_poll {
            Some(t) => format!("{} ({} ago)", time(Some(t)), age((now - t).num_seconds())),
            None => "never".into(),
        };
        let _ = write!(
            b,
            "<td>{flow}</td><td>{last_poll}</td><td class=\"num{bad}\">{lag}</td><td class=\"num\">{w}</td>\
             <td class=\"num\">{synced}</td><td class=\"num\">{failures}</td>",
            flow = flow_name(f.flow),
            bad = if lag > 0 { " bad" } else { "" },
            lag = age(lag),
            w = pace.written_last_hour,
            synced = f.counts.synced,
        );
        if i == 0 {
            let _ = write!(b, "<td rowspan=\"{rows}\">{action}</td>");
        }
        b.push_str("</tr>");
    }
}

pub fn flow_name(flow: Flow) -> &'static str {
    match flow {
        Flow::LeftToRight => "left → right",
        Flow::RightToLeft => "right → left",
    }
}

/// One page of the failures list (`page` counts from 0; `total` failures in all).
pub fn failures(
    shown: &[ListedFailure],
    total: usize,
    page_no: usize,
    integration: Option<&str>,
    csrf: &str,
    note: Option<&str>,
) -> String {
    let filter = integration.map(|i| format!("&integration={}", url_part(i))).unwrap_or_default();
    let back = format!("/failures?page={page_no}{filter}");
    let pages = total.div_ceil(FAILURES_PAGE).max(1);
    let mut b = format!("<p id=\"count\">{total} open failure(s); page {} of {pages}.</p>", page_no + 1);
    b.push_str(
        "<table id=\"failures\"><tr><th>Entity</th><th>Integration</th><th>Direction</th><th>Category</th>\
         <th>Cause</th><th>Attempts</th><th>Last failed</th><th></th></tr>",
    );
    for f in shown {
        let f = match f {
            Ok(f) => f,
            Err(u) => {
                unreadable_row(&mut b, u, csrf, &back);
                continue;
            }
        };
        let _ = write!(
            b,
            "<tr id=\"failure-{id}\"><td><a href=\"/failures/{uid}\">{key}</a> · {timeline}</td><td>{i}</td><td>{flow}</td>\
             <td>{cat}</td><td>{cause}</td><td class=\"num\">{n}</td><td>{last}</td><td>{buttons}</td></tr>",
            id = esc(&f.id),
            uid = url_part(&f.id),
            key = esc(&f.entity_key),
            timeline = timeline_link(f.integration.as_str(), f.flow.source(), f.entity.as_str(), "timeline"),
            i = esc(f.integration.as_str()),
            flow = flow_name(f.flow),
            cat = esc(f.category.as_str()),
            cause = esc(&f.cause),
            n = f.attempts,
            last = time(Some(f.last_failed_at)),
            buttons = failure_buttons(f, csrf, &back),
        );
    }
    b.push_str("</table><nav class=\"pages\">");
    if page_no > 0 {
        let _ = write!(b, "<a href=\"/failures?page={}{filter}\" id=\"previous\">← previous</a>", page_no - 1);
    }
    if page_no + 1 < pages {
        let _ = write!(b, "<a href=\"/failures?page={}{filter}\" id=\"next\">next →</a>", page_no + 1);
    }
    b.push_str("</nav>");
    page("Failures", note, &b)
}

/// A failure whose record the store cannot read: what the store knows of it, and why.
/// Discard only: there is no event to retry.
fn unreadable_row(b: &mut String, u: &UnreadableFailure, csrf: &str, back: &str) {
    let discard = format!("/failures/{}/discard", url_part(&u.id));
    let _ = write!(
        b,
        "<tr id=\"failure-{id}\" class=\"unreadable\"><td>{entity}</td><td>{i}</td><td>{flow}</td>\
         <td>unreadable</td><td>failure {id} cannot be read: {reason}</td><td></td><td></td><td>{button}</td></tr>",
        id = esc(&u.id),
        entity = esc(u.entity.as_ref().map_or("?", |e| e.as_str())),
        i = esc(u.integration.as_ref().map_or("?", |i| i.as_str())),
        flow = u.flow.map_or("?", flow_name),
        reason = esc(&u.reason),
        button = button(&discard, "Discard", "stop", csrf, back, &format!("discard-{}", u.id)),
    );
}

fn timeline_link(integration: &str, side: Side, entity: &str, label: &str) -> String {
    format!(
        "<a href=\"/timeline?integration={}&side={}&entity={}\">{}</a>",
        url_part(integration),
        side.as_str(),
        url_part(entity),
        esc(label)
    )
}

/// Retry and Discard, and for a field conflict the two ways to decide it.
fn failure_buttons(f: &FailureRecord, csrf: &str, back: &str) -> String {
    let base = format!("/failures/{}", url_part(&f.id));
    let mut out = button(&format!("{base}/retry"), "Retry", "go", csrf, back, &format!("retry-{}", f.id));
    out.push_str(&button(&format!("{base}/discard"), "Discard", "stop", csrf, back, &format!("discard-{}", f.id)));
    if f.category == ErrorCategory::FieldConflict {
        out.push_str(&button(
            &format!("{base}/left-wins"),
            "Left wins",
            "",
            csrf,
            back,
            &format!("left-wins-{}", f.id),
        ));
        out.push_str(&button(
            &format!("{base}/right-wins"),
            "Right wins",
            "",
            csrf,
            back,
            &format!("right-wins-{}", f.id),
        ));
    }
    out
}

/// One failure: its cause, the input snapshot and the mapping output side by side.
pub fn failure(f: &FailureRecord, csrf: &str, note: Option<&str>) -> String {
    let mut b = format!(
        "<p><strong>{key}</strong> ({i}, {flow}) · {timeline}</p><table><tr><th>Category</th><td>{cat}</td></tr>\
         <tr><th>Cause</th><td id=\"cause\">{cause}</td></tr><tr><th>Attempts</th><td>{n}</td></tr>\
         <tr><th>First failed</th><td>{first}</td></tr><tr><th>Last failed</th><td>{last}</td></tr></table><p>{buttons}</p>",
        key = esc(&f.entity_key),
        i = esc(f.integration.as_str()),
        flow = flow_name(f.flow),
        timeline = timeline_link(f.integration.as_str(), f.flow.source(), f.entity.as_str(), "timeline"),
        cat = esc(f.category.as_str()),
        cause = esc(&f.cause),
        n = f.attempts,
        first = time(Some(f.first_failed_at)),
        last = time(Some(f.last_failed_at)),
        buttons = failure_buttons(f, csrf, "/failures"),
    );
    let input = &f.input.snapshot;
    let _ = write!(
        b,
        "<div class=\"side\"><section id=\"input\"><h2>Input: {} revision {}</h2>{}</section>",
        esc(&input.key),
        esc(&input.revision),
        values(&input.fields)
    );
    match &f.mapping_output {
        Some(out) => {
            let changes: BTreeMap<FieldKey, FieldValue> =
                out.changes.iter().map(|c| (c.field.clone(), c.value.clone())).collect();
            let what = match &out.target {
                Some(t) => format!("update of {}", esc(t.as_str())),
                None => "create".to_string(),
            };
            let _ =
                write!(b, "<section id=\"output\"><h2>Mapping output: {what}</h2>{}</section></div>", values(&changes));
        }
        None => b.push_str(
            "<section id=\"output\"><h2>Mapping output</h2><p>The mapping did not get that far.</p></section></div>",
        ),
    }
    let raw = serde_json::to_string_pretty(f).unwrap_or_default();
    let _ = write!(b, "<details><summary>The whole record (JSON)</summary><pre>{}</pre></details>", esc(&raw));
    page(&format!("Failure of {}", f.entity_key), note, &b)
}

/// A field value as a person reads it: text as text, an empty value as a dash, others as
/// their JSON.
fn shown_value(v: &FieldValue) -> String {
    let json = serde_json::to_value(v).unwrap_or_default();
    match json.get("value") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "—".to_string(),
    }
}

fn values(fields: &BTreeMap<FieldKey, FieldValue>) -> String {
    let mut b = String::from("<table><tr><th>Field</th><th>Value</th></tr>");
    for (k, v) in fields {
        let shown = shown_value(v);
        let _ = write!(b, "<tr><td>{}</td><td>{}</td></tr>", esc(k.as_str()), esc(&shown));
    }
    b.push_str("</table>");
    b
}

/// An entity's timeline: its own steps as a source and its twin's, merged by time,
/// with its parked failures.
pub struct TimelineView<'a> {
    /// The AWS backend, where the functions record timelines only when asked to.
    pub aws: bool,
    pub integration: &'a str,
    pub side: Side,
    pub entity: &'a str,
    pub twin: Option<String>,
    pub steps: Vec<Activity>,
    pub failures: Vec<FailureRecord>,
}

pub fn timeline(v: &TimelineView, note: Option<&str>) -> String {
    let twin = match &v.twin {
        Some(t) => format!(
            "linked to {} on the {} side",
            timeline_link(v.integration, v.side.other(), t, t),
            v.side.other().as_str()
        ),
        None => "not linked".to_string(),
    };
    let mut b = format!(
        "<p>{} entity <strong>{}</strong> of {}: {twin}.</p>",
        v.side.as_str(),
        esc(v.entity),
        esc(v.integration)
    );
    for f in &v.failures {
        let _ = write!(
            b,
            "<p class=\"bad\">Parked ({}): <a href=\"/failures/{}\">{}</a></p>",
            esc(f.category.as_str()),
            url_part(&f.id),
            esc(&f.cause)
        );
    }
    b.push_str(
        "<table id=\"timeline\"><tr><th>When</th><th>Entity</th><th>Direction</th><th>Step</th>\
         <th>Change made</th><th>Detail</th></tr>",
    );
    for s in &v.steps {
        let _ = write!(
            b,
            "<tr class=\"step-{kind}\"><td>{at}</td><td>{key}</td><td>{flow}</td><td>{kind}</td><td>{changed}</td><td>{detail}</td></tr>",
            at = time(Some(s.at)),
            key = esc(&s.entity_key),
            flow = flow_name(s.flow),
            kind = s.kind.as_str(),
            changed = time(Some(s.changed)),
            detail = esc(&s.detail),
        );
    }
    if v.steps.is_empty() {
        b.push_str("<tr><td colspan=\"6\">Nothing recorded for this entity.</td></tr>");
    }
    b.push_str("</table>");
    if v.steps.is_empty() && v.aws {
        b.push_str(
            "<p id=\"timeline-off\">On the AWS backend, timeline recording is off unless the functions run with \
             <code>FERRY_RECORD_TIMELINE=on</code> (the template's <code>RecordTimeline</code> parameter); it \
             costs about 4 DynamoDB writes per synced change. Throughput and lag are recorded either way.</p>",
        );
    }
    page(&format!("Timeline of {}", v.entity), note, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_text_and_empty_ones_as_a_dash() {
        assert_eq!(shown_value(&FieldValue::Text("Rejected <b>".into())), "Rejected <b>");
        assert_eq!(shown_value(&FieldValue::Option("Lowest".into())), "Lowest");
        assert_eq!(shown_value(&FieldValue::Null), "—");
        assert_eq!(shown_value(&FieldValue::Number(4.0)), "4.0");
        let table = values(&BTreeMap::from([(FieldKey::new("summary"), FieldValue::Text("<script>".into()))]));
        assert!(table.contains("&lt;script&gt;") && !table.contains("<script>"), "{table}");
    }

    #[test]
    fn an_unreadable_failure_is_a_row_of_the_list_with_its_reason() {
        let u = UnreadableFailure {
            id: "f-<1>".into(),
            integration: Some(ferry_domain::IntegrationId::parse("app").expect("valid id")),
            flow: Some(Flow::RightToLeft),
            entity: Some(ferry_domain::EntityId::new("42")),
            category: None,
            first_failed_at: None,
            reason: "payload object failures/f-1/x.json: NoSuchKey".into(),
        };
        let html = failures(&[Err(u)], 1, 0, None, "token", None);
        let row = html.split("<tr id=\"failure-f-&lt;1&gt;\"").nth(1).expect("a row of its own");
        let row = row.split("</tr>").next().unwrap_or("");
        for shown in ["42", "app", "right → left", "unreadable", "NoSuchKey"] {
            assert!(row.contains(shown), "{shown} in {row}");
        }
        assert!(row.contains("/discard\""), "Discard: {row}");
        assert!(!row.contains("/retry\""), "no Retry: the event it would replay is unreadable: {row}");
    }

    #[test]
    fn an_empty_timeline_on_aws_says_how_to_turn_recording_on() {
        let view = |aws| TimelineView {
            aws,
            integration: "app",
            side: Side::Left,
            entity: "10001",
            twin: None,
            steps: vec![],
            failures: vec![],
        };
        assert!(timeline(&view(true), None).contains("FERRY_RECORD_TIMELINE=on"));
        assert!(!timeline(&view(false), None).contains("FERRY_RECORD_TIMELINE"));
    }
}
