//! `ferry completions SHELL` and `ferry man`: generated from the clap definition of the
//! command line, so they list exactly the commands and options `ferry` takes.

use anyhow::{Context, Result};
use clap::Command;
use std::io::Write;
use std::path::Path;

/// The completion script of `shell` for `cmd` (the `ferry` command line).
pub fn completions(shell: clap_complete::Shell, mut cmd: Command, out: &mut dyn Write) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
}

/// The man page of `cmd` as roff: its options and a SUBCOMMANDS section naming each.
pub fn man_page(cmd: Command, out: &mut dyn Write) -> Result<()> {
    clap_mangen::Man::new(cmd).render(out).context("writing the man page")
}

/// One man page per command and subcommand (`ferry.1`, `ferry-status.1`, ...) in `dir`.
pub fn man_pages_in(cmd: Command, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(cmd, dir).with_context(|| format!("writing man pages to {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cli;
    use clap::CommandFactory;

    fn subcommands() -> Vec<String> {
        Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect()
    }

    #[test]
    fn the_bash_completion_completes_every_subcommand() {
        let mut out = Vec::new();
        completions(clap_complete::Shell::Bash, Cli::command(), &mut out);
        let script = String::from_utf8(out).expect("UTF-8");
        assert!(script.contains("complete -F _ferry"), "a bash completion function for ferry");
        for name in subcommands() {
            assert!(
                script.contains(&format!("ferry__subcmd__{}", name.replace('-', "__"))) || script.contains(&name),
                "{name}"
            );
        }
        for name in ["status", "failures", "completions", "man", "--backend", "--json"] {
            assert!(script.contains(name), "{name} in the bash completion");
        }
    }

    #[test]
    fn every_shell_gets_a_completion_script() {
        use clap_complete::Shell::*;
        for shell in [Bash, Zsh, Fish, PowerShell] {
            let mut out = Vec::new();
            completions(shell, Cli::command(), &mut out);
            let script = String::from_utf8(out).expect("UTF-8");
            assert!(script.contains("failures") && script.contains("status"), "{shell}: {script}");
        }
    }

    #[test]
    fn the_man_page_is_roff_naming_every_command() {
        let mut out = Vec::new();
        man_page(Cli::command(), &mut out).expect("render");
        let page = String::from_utf8(out).expect("UTF-8");
        assert!(page.starts_with(".ie") || page.starts_with(".TH"), "roff: {}", &page[..page.len().min(200)]);
        // troff reads its input as Latin-1 unless preconv runs first: ASCII reads the same either way.
        assert!(page.is_ascii(), "{:?}", page.lines().find(|l| !l.is_ascii()));
        let th = page.lines().find(|l| l.starts_with(".TH ")).expect("a .TH title line");
        assert!(th.starts_with(".TH ferry 1"), "{th}");
        for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
            assert!(page.contains(section), "{section}");
        }
        for name in subcommands() {
            assert!(page.contains(&format!("ferry\\-{}", name.replace('-', "\\-"))), "{name} in SUBCOMMANDS");
        }
    }
}
