//! The rate-limit governor end to end: both simulators hold Ferry's user to a small
//! quota (Jira's burst limit, Azure DevOps' consumption limit), and the same batch of
//! bugs syncs once with the governor off (a 429 slows only the call that met it) and once
//! with `rate_limit:` on both systems, paced just under the quotas. Then Jira's per-issue
//! write limit: the comments of one work item reach its Jira twin, spaced out, while the
//! other items sync.

use crate::harness::*;
use anyhow::Result;
use ferry_domain::{CommentWrite, Side};
use ferry_sim::{AdoRateLimit, JiraIssueWriteLimit, JiraRateLimit};
use std::time::Duration;

const BOT: &str = "ferry-bot@acme.test";

/// What syncing four bugs from each side cost: Ferry's requests, the 429s among them,
/// and the bugs that got their twin.
struct Synced {
    requests: usize,
    refused: usize,
    twins: usize,
}

async fn sync_a_batch(rate_limit: &'static str) -> Result<Synced> {
    let w = World::new(Variant { rate_limit: Some(rate_limit), ..Variant::default() }).await?;
    w.activate().await?;
    let (alice, bob) = (w.jira_user("alice").await, w.ado_user("bob").await);
    let mut bugs = Vec::new();
    for i in 0..4 {
        bugs.push((Side::Left, alice.create(vec![("summary", text(&format!("Paced Jira bug {i}")))]).await?.id));
        bugs.push((Side::Right, bob.create(vec![("System.Title", text(&format!("Paced ADO bug {i}")))]).await?.id));
    }
    let only_ferry = || vec![BOT.to_string()];
    w.jira.set_rate_limit(Some(JiraRateLimit { per_second: 10.0, burst: 5, users: only_ferry() }));
    w.ado.set_rate_limit(Some(AdoRateLimit { limit: 50, window: Duration::from_secs(5), users: only_ferry() }));
    w.jira.clear_requests();
    w.ado.clear_requests();

    w.sync().await;

    let mut twins = 0;
    for (side, id) in &bugs {
        twins += usize::from(w.twin(*side, id).await.is_some());
    }
    let mut requests = w.jira.requests();
    requests.extend(w.ado.requests());
    let ferry: Vec<u16> = requests.iter().filter(|r| r.user.as_deref() == Some(BOT)).map(|r| r.status).collect();
    Ok(Synced { requests: ferry.len(), refused: ferry.iter().filter(|s| **s == 429).count(), twins })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_under_the_quotas_a_batch_meets_no_429_where_unpaced_the_same_batch_does() -> Result<()> {
    let off = sync_a_batch("off").await?;
    let on = sync_a_batch("{ per_second: 9, burst: 4 }").await?;
    assert_eq!((off.twins, on.twins), (8, 8), "both sync every bug");
    assert!(off.refused > 0, "unpaced, the batch outruns 10 requests/s: {} of {} refused", off.refused, off.requests);
    assert_eq!(on.refused, 0, "paced at 9/s with a burst of 4, no request is refused ({} sent)", on.requests);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_issue_meets_its_write_limit_once_and_then_its_writes_are_spaced_out_while_others_sync() -> Result<()> {
    let w = World::new(Variant {
        collaboration: true,
        rate_limit: Some("{ per_second: 50, burst: 20 }"),
        ..Variant::default()
    })
    .await?;
    w.activate().await?;
    let bob = w.ado_user("bob").await;
    let busy = bob.create(vec![("System.Title", text("A bug everyone comments on"))]).await?.id;
    for i in 0..6 {
        let said = CommentWrite { body: format!("<p>Seen again ({i})</p>"), origin: String::new() };
        bob.conn.add_comment(&bob.scope, &busy, &said).await?;
    }
    let mut quiet = Vec::new();
    for i in 0..3 {
        quiet.push(bob.create(vec![("System.Title", text(&format!("A quiet bug {i}")))]).await?.id);
    }
    w.jira.set_issue_write_limit(Some(JiraIssueWriteLimit {
        writes: 3,
        window: Duration::from_secs(2),
        users: vec![BOT.to_string()],
    }));
    w.jira.clear_requests();

    w.sync().await;

    let twin = w.twin(Side::Right, &busy).await.expect("the busy item has its Jira twin");
    let reader = w.reader(Side::Left).await;
    assert_eq!(reader.conn.comments(&reader.scope, &twin).await?.len(), 6, "every comment reached Jira");
    for id in &quiet {
        assert!(w.twin(Side::Right, id).await.is_some(), "{id} synced");
    }
    let requests = w.jira.requests();
    let ferry: Vec<&ferry_sim::RequestRecord> =
        requests.iter().filter(|r| r.user.as_deref() == Some(BOT) && r.method != "GET").collect();
    let refused = ferry.iter().filter(|r| r.status == 429).count();
    assert!(refused >= 1, "the busy issue met its limit ({} writes)", ferry.len());
    assert!(refused <= 2, "then its writes were spaced out: {refused} 429s among {} writes", ferry.len());
    Ok(())
}
