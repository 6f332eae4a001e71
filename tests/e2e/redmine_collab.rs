//! Comments between Azure DevOps (the simulator) and a real Redmine 5, through the
//! embedded runtime: each side's person's comment arrives on the other side as Ferry's
//! attributed copy, and polling again copies nothing back (no echo).

use crate::redmine::{synced_pair, Opts, Peer, RmWorld};
use anyhow::Result;
use ferry_domain::{Comment, CommentWrite, Side};

const COMMENTS_BOTH_WAYS: &str = "    comments: { direction: both }\n";

fn person(body: &str) -> CommentWrite {
    CommentWrite { body: body.into(), origin: String::new() }
}

fn bodies(comments: &[Comment]) -> Vec<String> {
    comments.iter().map(|c| c.body.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ado_and_redmine_comments_cross_both_ways_once_and_are_not_echoed() -> Result<()> {
    let mut opts = Opts::default();
    opts.collaboration = Some(COMMENTS_BOTH_WAYS);
    let w = RmWorld::new(Peer::Ado, "ar-comments", opts).await?;
    w.activate().await?;
    let (ado_id, rm_id) = synced_pair(&w).await?;

    let alice_ado = w.peer_user("alice").await;
    alice_ado.conn.add_comment(&alice_ado.scope, &ado_id, &person("<p>Seen on <strong>ADO</strong></p>")).await?;
    let bob_rm = w.redmine_user("bob").await;
    bob_rm.conn.add_comment(&bob_rm.scope, &rm_id, &person("<p>Seen in Redmine too</p>")).await?;
    w.sync().await;
    w.sync().await;

    let ferry_rm = w.reader(Side::Right).await;
    let ferry_ado = w.reader(Side::Left).await;
    let rm_comments = ferry_rm.conn.comments(&ferry_rm.scope, &rm_id).await?;
    let ado_comments = ferry_ado.conn.comments(&ferry_ado.scope, &ado_id).await?;
    assert_eq!(rm_comments.len(), 2, "bob's note and the copy of alice's comment: {:?}", bodies(&rm_comments));
    assert_eq!(ado_comments.len(), 2, "alice's comment and the copy of bob's note: {:?}", bodies(&ado_comments));

    let copy_in_rm = rm_comments.iter().find(|c| c.body.contains("Seen on ADO")).expect("alice's comment in Redmine");
    let bot = ferry_rm.conn.integration_user().await?;
    assert_eq!(copy_in_rm.author.as_ref().map(|a| a.id.clone()), Some(bot.id), "written as Ferry's user");
    assert!(copy_in_rm.body.contains(" wrote on "), "attributed: {}", copy_in_rm.body);
    let copy_in_ado =
        ado_comments.iter().find(|c| c.body.contains("Seen in Redmine too")).expect("bob's note in Azure DevOps");
    assert!(copy_in_ado.body.contains("Bob Baker wrote on "), "attributed to bob: {}", copy_in_ado.body);

    // Settled: the copies are Ferry's and are not copied back.
    for _ in 0..3 {
        w.sync().await;
    }
    assert_eq!(ferry_rm.conn.comments(&ferry_rm.scope, &rm_id).await?.len(), 2, "no echo in Redmine");
    assert_eq!(ferry_ado.conn.comments(&ferry_ado.scope, &ado_id).await?.len(), 2, "no echo in Azure DevOps");
    Ok(())
}
