//! `comments:`, `attachments:`, `hierarchy:`, `links:` and `on_target_deleted:` of an
//! integration: what of the conversation and structure around a work item travels.

use crate::decode::{self, At, Ctx, Obj};
use crate::format;
use crate::yaml::{Kind, Node, Value};
use ferry_domain::{AttachmentRule, Collaboration, Direction, LinkTypePair, OnTargetDeleted, DEFAULT_ATTACHMENT_MAX};

/// The collaboration keys of the integration `obj`, and where each key (`comments`,
/// `attachments.max_size`, `links[1].right`, ...) is written, for the checks that need
/// the systems' kinds; what is invalid is reported and left out.
pub fn decode(ctx: &mut Ctx, obj: &Obj) -> (Collaboration, Vec<(String, At)>) {
    let mut at = Vec::new();
    for key in ["comments", "attachments", "hierarchy", "links"] {
        if let Some(n) = obj.get(key) {
            key_positions(ctx, n, key, &obj.path_of(key), &mut at);
        }
    }
    (decode_keys(ctx, obj), at)
}

/// Where `node` (under `key`, at `path`) and each key inside it (objects, lists of
/// objects) are written.
fn key_positions(ctx: &Ctx, node: &Node, key: &str, path: &str, out: &mut Vec<(String, At)>) {
    out.push((key.to_string(), ctx.at(node.pos, path)));
    match &node.kind {
        Kind::Map(entries) => {
            for (k, v) in entries {
                if let Kind::Scalar { text, .. } = &k.kind {
                    key_positions(ctx, v, &format!("{key}.{text}"), &format!("{path}.{text}"), out);
                }
            }
        }
        Kind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                key_positions(ctx, item, &format!("{key}[{i}]"), &format!("{path}[{i}]"), out);
            }
        }
        Kind::Scalar { .. } => {}
    }
}

fn decode_keys(ctx: &mut Ctx, obj: &Obj) -> Collaboration {
    let comments = direction(ctx, obj, "comments", &format::COMMENTS).map(|(d, _)| d);
    let hierarchy = direction(ctx, obj, "hierarchy", &format::HIERARCHY).map(|(d, _)| d);
    let attachments = direction(ctx, obj, "attachments", &format::ATTACHMENTS).and_then(|(direction, o)| {
        let max_size = match o.get("max_size") {
            None => DEFAULT_ATTACHMENT_MAX,
            Some(n) => size(ctx, n, &o.path_of("max_size"))?,
        };
        Some(AttachmentRule { direction, max_size })
    });
    let links = obj.get("links").map(|n| links(ctx, n, &obj.path_of("links"))).unwrap_or_default();
    let on_target_deleted =
        obj.enum_of::<OnTargetDeleted>(ctx, "on_target_deleted").ok().flatten().map(|(v, _)| v).unwrap_or_default();
    Collaboration { comments, attachments, hierarchy, links, on_target_deleted }
}

/// The object under `key` with its `direction` (default both).
fn direction<'n>(
    ctx: &mut Ctx,
    obj: &Obj<'n>,
    key: &str,
    def: &'static format::Object,
) -> Option<(Direction, Obj<'n>)> {
    let o = Obj::new(ctx, obj.get(key)?, &obj.path_of(key), def)?;
    let d = o.enum_of::<Direction>(ctx, "direction").ok()?.map(|(d, _)| d).unwrap_or_default();
    Some((d, o))
}

fn links(ctx: &mut Ctx, node: &Node, path: &str) -> Vec<LinkTypePair> {
    let mut out: Vec<LinkTypePair> = Vec::new();
    for (i, item) in decode::list(ctx, node, path).into_iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(o) = Obj::new(ctx, item, &p, &format::LINK_TYPE) else { continue };
        let (Some(left), Some(right)) = (o.string(ctx, "left"), o.string(ctx, "right")) else { continue };
        for (side, value, taken) in [
            ("left", &left, out.iter().position(|l| l.left == left)),
            ("right", &right, out.iter().position(|l| l.right == right)),
        ] {
            if let Some(j) = taken {
                ctx.error(
                    item.pos,
                    &format!("{p}.{side}"),
                    format!("{value} is already paired by links[{j}]"),
                    Some("each link type pairs with one link type of the other system".into()),
                );
            }
        }
        out.push(LinkTypePair { left, right });
    }
    out
}

/// `100MB`, `512 KB`, `2GiB`, `1048576B`: bytes (KB, MB and GB are powers of 1024, as
/// the systems' own upload limits are).
pub fn size_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..digits].parse().ok()?;
    let unit = t[digits..].trim().to_ascii_uppercase();
    let scale: u64 = match unit.as_str() {
        "B" => 1,
        "KB" | "KIB" => 1 << 10,
        "MB" | "MIB" => 1 << 20,
        "GB" | "GIB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

fn size(ctx: &mut Ctx, node: &Node, path: &str) -> Option<u64> {
    let hint = Some("write it with a unit, e.g. 100MB, 512KB or 2GB".to_string());
    match node.scalar() {
        Some(Value::Str(s)) => match size_bytes(s) {
            Some(0) | None => {
                ctx.error(node.pos, path, format!("\"{s}\" is not a size"), hint);
                None
            }
            Some(n) => Some(n),
        },
        _ => {
            ctx.error(node.pos, path, format!("expected a size, found {}", node.type_name()), hint);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::size_bytes;

    #[test]
    fn sizes_read_with_their_unit_in_powers_of_1024() {
        for (text, want) in [
            ("100MB", Some(100 << 20)),
            ("512 KB", Some(512 << 10)),
            ("2GiB", Some(2 << 30)),
            ("7B", Some(7)),
            ("1mb", Some(1 << 20)),
            ("100", None),
            ("MB", None),
            ("1.5MB", None),
            ("99999999999999GB", None),
        ] {
            assert_eq!(size_bytes(text), want, "{text}");
        }
    }
}
