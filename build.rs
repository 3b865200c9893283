//! Records the git commit qaqpa is built from, for the HTML report's "qaqpa commit" line.
//!
//! `QAQPA_COMMIT` in the build's environment wins (a build from a source archive can set it);
//! else `git rev-parse HEAD`; else nothing, and the report says the commit is unknown. The
//! script reruns when HEAD moves, so a build never shows a stale commit.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=QAQPA_COMMIT");
    if let Ok(c) = std::env::var("QAQPA_COMMIT")
        && !c.trim().is_empty()
    {
        println!("cargo:rustc-env=QAQPA_COMMIT={}", c.trim());
        return;
    }
    let Some(head) = git(&["rev-parse", "HEAD"]) else {
        return;
    };
    // HEAD itself (a checkout) and the branch it names (a commit), loose or packed. Only
    // files that exist: a missing one would make cargo rerun the script on every build.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rustc-env=QAQPA_COMMIT={head}");
}
