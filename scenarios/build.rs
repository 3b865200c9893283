//! Embeds the standard suite (`suite/**/*.yaml`) so the binary runs it from anywhere.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let suite = root.join("suite");
    println!("cargo::rerun-if-changed={}", suite.display());
    let mut files = Vec::new();
    collect(&suite, &mut files);
    files.sort();
    let mut src = String::from("pub static STANDARD_SUITE: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo::rerun-if-changed={}", f.display());
        let rel = std::path::Path::new("scenarios")
            .join(f.strip_prefix(&root).unwrap())
            .to_string_lossy()
            .replace('\\', "/");
        src.push_str(&format!(
            "    ({rel:?}, include_str!({:?})),\n",
            f.display().to_string()
        ));
    }
    src.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("standard_suite.rs");
    std::fs::write(out, src).unwrap();
}
