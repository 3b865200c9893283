//! Where the shared material lives (`seeds/`, `rules/`, `corpus/`): read in place, never copied.

use std::path::PathBuf;

/// `$QAQPA_SHARED` when set; else `../shared` from the working directory when it exists (the
/// repository root, as CI runs it); else the `shared/` beside the checkout this binary was
/// built from, so `qaqpa run` works from any directory on the machine that built it.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("QAQPA_SHARED") {
        return PathBuf::from(d);
    }
    let beside_cwd = PathBuf::from("../shared");
    if beside_cwd.is_dir() {
        return beside_cwd;
    }
    let beside_checkout = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"));
    if beside_checkout.is_dir() {
        return beside_checkout;
    }
    beside_cwd
}

/// A folder of the third-party corpus, e.g. `corpus("ndpi")`.
pub fn corpus(sub: &str) -> PathBuf {
    dir().join("corpus").join(sub)
}

/// Said with an error about a missing shared file: where it was looked for and how to point
/// elsewhere.
pub const WHERE: &str = "the shared material is read from $QAQPA_SHARED, else ../shared, else the shared/ beside the checkout qaqpa was built from";
