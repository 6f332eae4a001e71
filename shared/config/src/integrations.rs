//! `integrations:` entries.

use crate::decode::{self, describe, At, Ctx, Obj};
use crate::format;
use crate::tables::{self, Purpose};
use crate::yaml::{Kind, Node, Pos, Value};
use ferry_domain::{
    ConflictPolicy, Direction, Endpoint, FieldKey, FieldMapping, FilterExit, Flow, Integration, IntegrationId, Links,
    MappingKind, RemoteRefs, Scalar, Side, SystemId, UnmatchedUser, UserTable, ValueTable,
};
use std::collections::HashMap;
use std::path::Path;

pub const DEFAULT_POLL_SECS: u64 = 60;
pub const MIN_POLL_SECS: u64 = 10;
pub const DEFAULT_OVERLAP_SECS: u64 = 120;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
const MAX_DURATION_SECS: u64 = 86_400;

pub struct IntegrationDecl {
    /// `None` when the entry had errors (they are reported).
    pub integration: Option<Integration>,
    pub id: Option<(String, At)>,
    /// Each `left.system` / `right.system` with where it was written.
    pub system_refs: Vec<(String, At)>,
    /// Each criteria filter with its source system, checked once the systems' kinds
    /// (which may be declared in another file) are known.
    pub filters: Vec<FilterDecl>,
    /// Where each collaboration key is written (`comments`, `links[1].right`, ...),
    /// checked against the systems' kinds once they are known.
    pub collab_at: Vec<(String, At)>,
}

pub struct FilterDecl {
    pub condition: String,
    /// The system the filtered direction reads.
    pub source_system: String,
    pub at: At,
}

pub fn decode(ctx: &mut Ctx, node: &Node, path: &str, base_dir: &Path) -> Option<IntegrationDecl> {
    let obj = Obj::new(ctx, node, path, &format::INTEGRATION)?;
    let before = ctx.error_count();
    let mut decl = IntegrationDecl {
        integration: None,
        id: None,
        system_refs: Vec::new(),
        filters: Vec::new(),
        collab_at: Vec::new(),
    };

    let id = obj.get("id").and_then(|n| {
        let p = obj.path_of("id");
        let s = decode::string(ctx, n, &p)?;
        match IntegrationId::parse(s.clone()) {
            Ok(id) => {
                decl.id = Some((s, ctx.at(n.pos, &p)));
                Some(id)
            }
            Err(e) => {
                ctx.error(n.pos, &p, e.to_string(), None);
                None
            }
        }
    });
    let left = obj.get("left").and_then(|n| endpoint(ctx, n, &obj.path_of("left"), &mut decl.system_refs));
    let right = obj.get("right").and_then(|n| endpoint(ctx, n, &obj.path_of("right"), &mut decl.system_refs));
    if let (Some(l), Some(r)) = (&left, &right) {
        if l == r {
            let n = obj.get("right").map_or(node.pos, |n| n.pos);
            ctx.error(
                n,
                &obj.path_of("right"),
                "right is the same system, project and type as left",
                Some("an integration syncs two different places".into()),
            );
        }
    }
    let poll_interval_secs = duration(ctx, &obj, "poll_interval", DEFAULT_POLL_SECS, MIN_POLL_SECS);
    let overlap_secs = duration(ctx, &obj, "overlap", DEFAULT_OVERLAP_SECS, 0);
    let start_time = obj.get("start_time").and_then(|n| {
        let p = obj.path_of("start_time");
        let s = decode::string(ctx, n, &p)?;
        match chrono::DateTime::parse_from_rfc3339(&s) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(e) => {
                ctx.error(
                    n.pos,
                    &p,
                    format!("\"{s}\" is not an RFC 3339 time ({e})"),
                    Some("e.g. 2026-01-01T00:00:00Z".into()),
                );
                None
            }
        }
    });
    let max_attempts = match obj.get("max_attempts") {
        None => DEFAULT_MAX_ATTEMPTS,
        Some(n) => match n.scalar() {
            Some(Value::Int(i)) if (1..=100).contains(&i) => i as u32,
            _ => {
                ctx.error(
                    n.pos,
                    &obj.path_of("max_attempts"),
                    format!("expected a whole number from 1 to 100, found {}", describe(n)),
                    None,
                );
                DEFAULT_MAX_ATTEMPTS
            }
        },
    };
    let (filter_left_to_right, filter_right_to_left, filter_exit) = match obj.get("filters") {
        None => (None, None, FilterExit::default()),
        Some(n) => filters(ctx, n, &obj.path_of("filters")),
    };
    if let Some(Kind::Map(entries)) = obj.get("filters").map(|n| &n.kind) {
        let value_of = |key: &str| {
            entries.iter().find(|(k, _)| matches!(&k.kind, Kind::Scalar { text, .. } if text == key)).map(|(_, v)| v)
        };
        for (flow, endpoint) in [(Flow::LeftToRight, &left), (Flow::RightToLeft, &right)] {
            let key = flow.as_str();
            let condition = match flow {
                Flow::LeftToRight => &filter_left_to_right,
                Flow::RightToLeft => &filter_right_to_left,
            };
            if let (Some(condition), Some(ep), Some(node)) = (condition, endpoint, value_of(key)) {
                decl.filters.push(FilterDecl {
                    condition: condition.clone(),
                    source_system: ep.system.to_string(),
                    at: ctx.at(node.pos, &format!("{}.{key}", obj.path_of("filters"))),
                });
            }
        }
    }
    let remote = match obj.get("remote") {
        None => remote_refs(None, None, Links::default()),
        Some(n) => remote(ctx, n, &obj.path_of("remote")).unwrap_or_default(),
    };
    let users = match obj.get("users") {
        None => UserTable::default(),
        Some(n) => tables::decode(ctx, n, &obj.path_of("users"), base_dir, Purpose::Users)
            .map(|(rows, origin)| UserTable { rows, origin })
            .unwrap_or_default(),
    };
    let (collaboration, collab_at) = crate::collaboration::decode(ctx, &obj);
    decl.collab_at = collab_at;
    let mut fields = Vec::new();
    if let Some(n) = obj.get("fields") {
        let items = decode::list(ctx, n, &obj.path_of("fields"));
        if items.is_empty() && matches!(n.kind, Kind::Seq(_)) {
            ctx.error(n.pos, &obj.path_of("fields"), "an integration needs at least one field mapping", None);
        }
        let mut targets: HashMap<(Flow, String), (usize, usize)> = HashMap::new();
        let remote_targets = [
            (Flow::RightToLeft, remote.left_id_field.as_ref(), "remote.left_id_field"),
            (Flow::LeftToRight, remote.right_id_field.as_ref(), "remote.right_id_field"),
        ];
        for (i, item) in items.into_iter().enumerate() {
            let p = format!("{}[{i}]", obj.path_of("fields"));
            let Some(m) = field(ctx, item, &p, base_dir) else {
                continue;
            };
            for flow in Flow::BOTH {
                if !m.direction.allows(flow) {
                    continue;
                }
                let Some(target) = m.field(flow.target()) else {
                    continue;
                };
                let (side, flow_name) = (flow.target().as_str(), flow.as_str());
                for (f, remote_field, remote_key) in remote_targets {
                    if f == flow && remote_field == Some(target) {
                        ctx.error(
                            item.pos,
                            &format!("{p}.{side}"),
                            format!("{target} is already written by {remote_key}"),
                            Some("a remote id field is written by Ferry itself; map another field".into()),
                        );
                    }
                }
                let key = (flow, target.as_str().to_string());
                match targets.get(&key) {
                    Some((j, line)) => ctx.error(
                        item.pos,
                        &format!("{p}.{side}"),
                        format!("{target} is already mapped {flow_name} by fields[{j}] (line {line})"),
                        Some("each target field takes one mapping per direction; limit one with direction:".into()),
                    ),
                    None => {
                        targets.insert(key, (i, item.pos.line));
                    }
                }
            }
            fields.push(m);
        }
    }
    if ctx.error_count() > before {
        return Some(decl);
    }
    decl.integration = Some(Integration {
        id: id?,
        left: left?,
        right: right?,
        poll_interval_secs,
        overlap_secs,
        start_time,
        filter_left_to_right,
        filter_right_to_left,
        filter_exit,
        remote,
        fields,
        users,
        max_attempts,
        collaboration,
    });
    Some(decl)
}

fn endpoint(ctx: &mut Ctx, node: &Node, path: &str, refs: &mut Vec<(String, At)>) -> Option<Endpoint> {
    let obj = Obj::new(ctx, node, path, &format::ENDPOINT)?;
    let system = obj.get("system").and_then(|n| {
        let p = obj.path_of("system");
        let s = decode::string(ctx, n, &p)?;
        match SystemId::parse(s.clone()) {
            Ok(id) => {
                refs.push((s, ctx.at(n.pos, &p)));
                Some(id)
            }
            Err(e) => {
                ctx.error(n.pos, &p, e.to_string(), None);
                None
            }
        }
    });
    let project = obj.string(ctx, "project");
    let entity_type = obj.string(ctx, "type");
    Some(Endpoint { system: system?, project: project?, entity_type: entity_type? })
}

/// A duration key of `obj` in seconds, `default` when absent; out of `min`..24 h or not a
/// duration is reported (and answers `default`).
pub(crate) fn duration(ctx: &mut Ctx, obj: &Obj, key: &str, default: u64, min: u64) -> u64 {
    let Some(n) = obj.get(key) else {
        return default;
    };
    let p = obj.path_of(key);
    let hint = Some(format!("write it with a unit, e.g. {default}s, 5m or 1h"));
    let secs = match n.scalar() {
        Some(Value::Str(s)) => match decode::duration_secs(s) {
            Some(secs) => secs,
            None => {
                ctx.error(n.pos, &p, format!("\"{s}\" is not a duration"), hint);
                return default;
            }
        },
        _ => {
            ctx.error(n.pos, &p, format!("expected a duration, found {}", describe(n)), hint);
            return default;
        }
    };
    if secs < min || secs > MAX_DURATION_SECS {
        ctx.error(n.pos, &p, format!("{secs}s is out of range"), Some(format!("use {min}s to 24h")));
        return default;
    }
    secs
}

fn filters(ctx: &mut Ctx, node: &Node, path: &str) -> (Option<String>, Option<String>, FilterExit) {
    let Some(obj) = Obj::new(ctx, node, path, &format::FILTERS) else {
        return (None, None, FilterExit::default());
    };
    let l2r = obj.opt_str(ctx, "left_to_right").ok().flatten();
    let r2l = obj.opt_str(ctx, "right_to_left").ok().flatten();
    let exit = obj.enum_of::<FilterExit>(ctx, "on_exit").ok().flatten().map(|(v, _)| v).unwrap_or_default();
    (l2r, r2l, exit)
}

fn remote(ctx: &mut Ctx, node: &Node, path: &str) -> Option<RemoteRefs> {
    let obj = Obj::new(ctx, node, path, &format::REMOTE)?;
    let left_id_field = obj.opt_str(ctx, "left_id_field").ok()?.map(FieldKey::new);
    let right_id_field = obj.opt_str(ctx, "right_id_field").ok()?.map(FieldKey::new);
    let links = obj.enum_of::<Links>(ctx, "links").ok()?.map(|(v, _)| v).unwrap_or_default();
    Some(remote_refs(left_id_field, right_id_field, links))
}

fn remote_refs(left_id_field: Option<FieldKey>, right_id_field: Option<FieldKey>, links: Links) -> RemoteRefs {
    RemoteRefs { left_id_field, right_id_field, left_link: links.on(Side::Left), right_link: links.on(Side::Right) }
}

/// `left:` / `right:` of a mapping: a field key, or `none` (`Some(None)`).
fn side_field(ctx: &mut Ctx, obj: &Obj, key: &str) -> Option<Option<FieldKey>> {
    let n = obj.get(key)?;
    let s = decode::string(ctx, n, &obj.path_of(key))?;
    if s == "none" {
        Some(None)
    } else {
        Some(Some(FieldKey::new(s)))
    }
}

fn field(ctx: &mut Ctx, node: &Node, path: &str, base_dir: &Path) -> Option<FieldMapping> {
    let obj = Obj::new(ctx, node, path, &format::FIELD)?;
    let before = ctx.error_count();
    let left = side_field(ctx, &obj, "left");
    let right = side_field(ctx, &obj, "right");
    let direction = obj.enum_of::<Direction>(ctx, "direction").ok().flatten();
    let kind = obj.enum_of::<MappingKind>(ctx, "type").ok().flatten();
    let unmatched = obj.enum_of::<UnmatchedUser>(ctx, "unmatched").ok().flatten();
    let conflict = obj.enum_of::<ConflictPolicy>(ctx, "conflict").ok().flatten();
    let mapping_kind = kind.map_or(MappingKind::Value, |(k, _)| k);
    if let Some((_, pos)) = unmatched {
        if mapping_kind != MappingKind::User {
            ctx.error(
                pos,
                &obj.path_of("unmatched"),
                "unmatched applies to user mappings only",
                Some("add type: user, or remove unmatched".into()),
            );
        }
    }
    let values = obj.get("values").and_then(|n| {
        let p = obj.path_of("values");
        if matches!(mapping_kind, MappingKind::User | MappingKind::RichText) {
            let hint = if mapping_kind == MappingKind::User {
                "users match by e-mail; put overrides in the integration's users: table"
            } else {
                "rich text is converted, not looked up"
            };
            ctx.error(n.pos, &p, format!("a {mapping_kind} mapping takes no value table"), Some(hint.into()));
            return None;
        }
        tables::decode(ctx, n, &p, base_dir, Purpose::Values).map(|(rows, origin)| ValueTable { rows, origin })
    });
    let constant = obj.get("value").and_then(|n| decode::scalar(ctx, n, &obj.path_of("value")).map(|v| (v, n.pos)));

    let (left, right) = (left?, right?);
    let implied = match (&left, &right) {
        (None, None) => {
            ctx.error(
                node.pos,
                path,
                "left and right are both none",
                Some("one side names a field; the other may be none to write a constant".into()),
            );
            return None;
        }
        (None, Some(_)) => Some((Direction::LeftToRight, "left")),
        (Some(_), None) => Some((Direction::RightToLeft, "right")),
        (Some(_), Some(_)) => None,
    };
    let direction = match (implied, direction) {
        (Some((want, side)), Some((given, pos))) if given != want => {
            ctx.error(
                pos,
                &obj.path_of("direction"),
                format!("a mapping whose {side} is none can only be {}", want),
                Some("remove direction: it is implied".into()),
            );
            want
        }
        (Some((want, _)), _) => want,
        (None, Some((d, _))) => d,
        (None, None) => Direction::Both,
    };
    if let Some((_, pos)) = conflict {
        if direction != Direction::Both {
            ctx.error(
                pos,
                &obj.path_of("conflict"),
                format!("conflict applies to both-way mappings only; this one is {}", direction),
                Some("remove conflict: the one-way direction already decides which side wins".into()),
            );
        }
    }
    let mut default_left = None;
    let mut default_right = None;
    match implied {
        Some((_, side)) => {
            if constant.is_none() {
                ctx.error(
                    node.pos,
                    &obj.path_of("value"),
                    format!("a mapping whose {side} is none needs value: (the constant to write)"),
                    Some("e.g. value: Jira".into()),
                );
            }
            if let Some(n) = obj.get("values") {
                ctx.error(
                    n.pos,
                    &obj.path_of("values"),
                    format!("a mapping whose {side} is none takes no value table"),
                    None,
                );
            }
            if let Some(n) = obj.get("default") {
                ctx.error(
                    n.pos,
                    &obj.path_of("default"),
                    format!("a mapping whose {side} is none writes value: always; default is never used"),
                    None,
                );
            }
        }
        None => {
            if let Some((_, pos)) = &constant {
                ctx.error(
                    *pos,
                    &obj.path_of("value"),
                    "value: is only for a mapping whose left or right is none",
                    Some("use default: for a value written when the source gives none".into()),
                );
            }
            if let Some(n) = obj.get("default") {
                let p = obj.path_of("default");
                (default_left, default_right) = defaults(ctx, n, &p, direction, mapping_kind);
            }
        }
    }
    if ctx.error_count() > before {
        return None;
    }
    Some(FieldMapping {
        left,
        right,
        direction,
        kind: mapping_kind,
        values,
        default_left,
        default_right,
        constant: constant.map(|(v, _)| v),
        unmatched: unmatched.map_or(UnmatchedUser::default(), |(u, _)| u),
        conflict: conflict.map_or(ConflictPolicy::default(), |(c, _)| c),
    })
}

/// A scalar default means both sides (as far as the direction allows); `{ left, right }`
/// names each side, and a side the direction never writes is an error.
fn defaults(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    direction: Direction,
    kind: MappingKind,
) -> (Option<Scalar>, Option<Scalar>) {
    let user_check = |ctx: &mut Ctx, v: Option<Scalar>, pos: Pos, p: &str| -> Option<Scalar> {
        if kind == MappingKind::User {
            match &v {
                Some(Scalar::Text(s)) if s.contains('@') => {}
                Some(_) => {
                    ctx.error(pos, p, "a user default is an e-mail address", Some("e.g. ferry-bot@acme.com".into()));
                    return None;
                }
                None => {}
            }
        }
        v
    };
    if let Kind::Scalar { .. } = node.kind {
        let v = decode::scalar(ctx, node, path);
        let v = user_check(ctx, v, node.pos, path);
        let l = direction.allows(Flow::RightToLeft).then(|| v.clone()).flatten();
        let r = direction.allows(Flow::LeftToRight).then_some(v).flatten();
        return (l, r);
    }
    let Some(obj) = Obj::new(ctx, node, path, &format::DEFAULT_SIDES) else {
        return (None, None);
    };
    let one = |ctx: &mut Ctx, key: &str, flow: Flow| -> Option<Scalar> {
        let n = obj.get(key)?;
        let p = obj.path_of(key);
        if !direction.allows(flow) {
            ctx.error(
                n.pos,
                &p,
                format!("default.{key} is never used: the direction is {}", direction),
                Some("remove it or change direction".into()),
            );
            return None;
        }
        let v = decode::scalar(ctx, n, &p);
        user_check(ctx, v, n.pos, &p)
    };
    let l = one(ctx, "left", Flow::RightToLeft);
    let r = one(ctx, "right", Flow::LeftToRight);
    if obj.get("left").is_none() && obj.get("right").is_none() {
        ctx.error(
            node.pos,
            path,
            "the default is empty",
            Some("default: VALUE, or default: { left: VALUE, right: VALUE }".into()),
        );
    }
    (l, r)
}
