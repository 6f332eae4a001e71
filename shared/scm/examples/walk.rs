//! Fetches a repository into a mirror and lists the commits of its branches, newest
//! last: `cargo run -p ferry-scm --example walk -- URL MIRROR_DIR`. It also measures what
//! the Git support adds to a release binary (docs/source-control.md).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(dir)) = (args.next(), args.next()) else {
        return Err("usage: walk URL MIRROR_DIR".into());
    };
    let mirror = ferry_scm::Mirror::open(std::path::Path::new(&dir))?;
    let tips = mirror.fetch(&ferry_scm::GitRemote { url, token: std::env::var("GIT_TOKEN").ok(), ca_pem: None })?;
    let walk = ferry_scm::plan(&Default::default(), &tips);
    for c in mirror.commits_between(&walk.hide, &walk.from)? {
        println!("{} {}", &c.sha[..10], c.message.lines().next().unwrap_or(""));
    }
    Ok(())
}
