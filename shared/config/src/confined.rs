//! Table files (CSV, workbooks, user sheets) are read only from the config file's
//! directory tree. A config names a file relative to itself; a path that leaves the
//! tree (`../../secrets.csv`, `/proc/self/environ`, or a symlink pointing outside) would
//! let whoever writes a config read any file the process can, into an error message.

use std::path::{Path, PathBuf};

/// Why a table file cannot be read: the message and a hint.
pub(crate) type Refusal = (String, String);

/// The canonical path of `name` (relative to `base_dir`) if it is a file inside
/// `base_dir`'s tree, symlinks resolved.
pub(crate) fn table_file(base_dir: &Path, name: &str) -> Result<PathBuf, Refusal> {
    let joined = base_dir.join(name);
    let not_found =
        || (format!("file \"{name}\" not found"), format!("the path is relative to this file: {}", joined.display()));
    let Ok(full) = joined.canonicalize() else { return Err(not_found()) };
    let inside = base_dir.canonicalize().is_ok_and(|base| full.starts_with(base));
    if !inside {
        return Err((
            format!("file \"{name}\" is outside the config file's directory"),
            "tables are read only from the config file's directory or below (symlinks are resolved first); \
             copy the file there"
                .to_string(),
        ));
    }
    if !full.is_file() {
        return Err(not_found());
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_inside_the_config_tree_are_tables() {
        let root = tempfile::tempdir().unwrap();
        let config_dir = root.path().join("config");
        std::fs::create_dir_all(config_dir.join("tables")).unwrap();
        std::fs::write(config_dir.join("tables/p.csv"), "L,R\n").unwrap();
        std::fs::write(root.path().join("secret.csv"), "TOKEN,x\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.path().join("secret.csv"), config_dir.join("link.csv")).unwrap();

        assert!(table_file(&config_dir, "tables/p.csv").is_ok());
        assert!(table_file(&config_dir, "./tables/../tables/p.csv").is_ok());
        let outside = [
            "../secret.csv".to_string(),
            root.path().join("secret.csv").display().to_string(),
            "/proc/self/environ".to_string(),
            "/etc/passwd".to_string(),
            #[cfg(unix)]
            "link.csv".to_string(),
        ];
        for name in outside {
            let (message, hint) = table_file(&config_dir, &name).unwrap_err();
            assert!(message.contains("outside the config file's directory"), "{name}: {message}");
            assert!(hint.contains("symlinks are resolved"), "{hint}");
        }
        let (message, _) = table_file(&config_dir, "nope.csv").unwrap_err();
        assert_eq!(message, "file \"nope.csv\" not found");
        let (message, _) = table_file(&config_dir, "tables").unwrap_err();
        assert_eq!(message, "file \"tables\" not found", "a directory is no table");
    }
}
