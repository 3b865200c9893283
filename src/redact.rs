//! The copy of a target file that goes into a certification bundle, with its secrets taken
//! out. The rule (also in `docs/bundle-format.md`):
//!
//! 1. A field is *secret-named* when a word of its name is one of [`SECRET_WORDS`] (`password`,
//!    `passphrase`, `secret`, `token`, `key`, `credential`, `private`, …) and none is
//!    `public`. A name's words are its parts between `_`, `-`, `.` and other punctuation, and
//!    at lower-to-upper case changes (`apiKey` is `api` `key`), compared in lower case.
//! 2. A secret-named field keeps its value only when the value is a path to the secret, not
//!    the secret: the name's last word is one of [`PATH_WORDS`] (`key_file`, `token-path`), or
//!    the value is a string that names a key or certificate file (no whitespace, no `://`,
//!    ending in one of [`KEY_FILE_EXTENSIONS`]: `signing_key = "/etc/qaqpa/bus.pem"`).
//! 3. Any other value of a secret-named field is replaced by the string `REDACTED`: a string,
//!    a number, a boolean, a date; in an array or a table under it, every value (each judged
//!    by rule 2 with its own name, a table's fields inheriting the secret).
//! 4. Whatever its field's name, a string holding a PEM private-key block is replaced by
//!    `REDACTED`, and the password of a URL (`scheme://user:password@host`) by `REDACTED`.
//!
//! The copy is the parsed file written out again as TOML: comments (which may hold anything)
//! do not survive, and a header says what was redacted.

use crate::error::CliError;

/// Words that make a field's value a secret.
pub const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pass",
    "pwd",
    "secret",
    "secrets",
    "token",
    "tokens",
    "key",
    "keys",
    "apikey",
    "privkey",
    "credential",
    "credentials",
    "private",
];

/// A name ending in one of these holds a path.
pub const PATH_WORDS: &[&str] = &["file", "path", "dir", "directory"];

/// A secret-named field whose string value ends in one of these names a file.
pub const KEY_FILE_EXTENSIONS: &[&str] = &[
    ".pem", ".key", ".der", ".crt", ".cer", ".p8", ".pk8", ".p12", ".pfx", ".jks", ".pub", ".asc",
    ".gpg",
];

/// What replaces a secret.
pub const REDACTED: &str = "REDACTED";

/// The redacted copy and the dotted names of what was redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    pub fields: Vec<String>,
}

/// The words of a field's name, in lower case.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if !ch.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
        cur.extend(ch.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn secret_named(name: &str) -> bool {
    let w = words(name);
    !w.iter().any(|x| x == "public") && w.iter().any(|x| SECRET_WORDS.contains(&x.as_str()))
}

fn path_named(name: &str) -> bool {
    words(name)
        .last()
        .is_some_and(|x| PATH_WORDS.contains(&x.as_str()))
}

fn names_a_key_file(value: &str) -> bool {
    let lower = value.to_lowercase();
    !value.is_empty()
        && !value.chars().any(char::is_whitespace)
        && !value.contains("://")
        && KEY_FILE_EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

/// Whether a text holds a PEM private-key block (`-----BEGIN ... PRIVATE KEY-----`: PKCS#8,
/// encrypted PKCS#8, RSA, EC, OpenSSH and the like).
pub fn holds_pem_private_key(bytes: &[u8]) -> bool {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut from = 0;
    while let Some(i) = find(&bytes[from..], BEGIN) {
        let start = from + i + BEGIN.len();
        let line_end = bytes[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |j| start + j);
        if find(&bytes[start..line_end], b"PRIVATE KEY-----").is_some() {
            return true;
        }
        from = start;
    }
    false
}

/// The first place `needle` occurs in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A URL's password replaced, if it has one.
fn without_url_password(s: &str) -> Option<String> {
    let scheme_end = s.find("://")? + 3;
    let rest = &s[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    if colon + 1 == at {
        return None;
    }
    Some(format!(
        "{}{}:{REDACTED}{}",
        &s[..scheme_end],
        &authority[..colon],
        &s[scheme_end + at..]
    ))
}

struct Walk {
    fields: Vec<String>,
}

impl Walk {
    fn note(&mut self, path: &str) {
        self.fields.push(path.to_string());
    }

    /// `value` at `path` (dotted), named `name`; `secret` when an enclosing field is
    /// secret-named.
    fn value(&mut self, path: &str, name: &str, secret: bool, value: &mut toml::Value) {
        let secret = secret || secret_named(name);
        match value {
            toml::Value::Table(t) => self.table(path, secret, t),
            toml::Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(&format!("{path}[{i}]"), name, secret, item);
                }
            }
            toml::Value::String(s) => {
                if holds_pem_private_key(s.as_bytes()) {
                    *s = REDACTED.into();
                    self.note(path);
                } else if secret && !path_named(name) && !names_a_key_file(s) {
                    *s = REDACTED.into();
                    self.note(path);
                } else if let Some(clean) = without_url_password(s) {
                    *s = clean;
                    self.note(path);
                }
            }
            other => {
                if secret && !path_named(name) {
                    *other = toml::Value::String(REDACTED.into());
                    self.note(path);
                }
            }
        }
    }

    fn table(&mut self, path: &str, secret: bool, table: &mut toml::Table) {
        for (k, v) in table.iter_mut() {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            self.value(&p, k, secret, v);
        }
    }
}

/// The table with its keys in order at every depth: the copy's bytes then do not depend on
/// whether the toml crate was built to keep a document's order.
fn sorted(table: toml::Table) -> toml::Table {
    fn value(v: toml::Value) -> toml::Value {
        match v {
            toml::Value::Table(t) => toml::Value::Table(sorted(t)),
            toml::Value::Array(a) => toml::Value::Array(a.into_iter().map(value).collect()),
            other => other,
        }
    }
    let mut entries: Vec<(String, toml::Value)> = table.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(k, v)| (k, value(v))).collect()
}

/// The redacted copy of a target file's text; `origin` names it in errors and in the copy's
/// header.
pub fn redact_target(text: &str, origin: &str) -> Result<Redacted, CliError> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        });
        CliError::input(format!(
            "{origin}:{line}: the target file is not TOML: {}",
            e.message().trim_end()
        ))
    })?;
    let mut walk = Walk { fields: Vec::new() };
    walk.table("", false, &mut table);
    walk.fields.sort();
    let body = toml::to_string(&sorted(table))
        .map_err(|e| CliError::input(format!("{origin}: cannot write its redacted copy: {e}")))?;
    let redacted = if walk.fields.is_empty() {
        "none".to_string()
    } else {
        walk.fields.join(", ")
    };
    let text = format!(
        "# Redacted copy of the target file `{origin}`, made by `qaqpa bundle`.\n\
         # Secrets are replaced by \"{REDACTED}\" and comments are dropped (rule: docs/bundle-format.md).\n\
         # Redacted: {redacted}\n\n{body}"
    );
    Ok(Redacted {
        text,
        fields: walk.fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words() {
        assert_eq!(words("smtp_password"), ["smtp", "password"]);
        assert_eq!(words("apiKey"), ["api", "key"]);
        assert_eq!(words("client-secret.v2"), ["client", "secret", "v2"]);
        assert_eq!(words("keyboard_layout"), ["keyboard", "layout"]);
        assert!(secret_named("signing-key") && secret_named("AuthToken"));
        assert!(
            !secret_named("keyboard") && !secret_named("monkey") && !secret_named("public_key")
        );
        assert!(path_named("tls_key_file") && path_named("token-path") && !path_named("key"));
    }

    const TARGET: &str = r#"# the vendor's lab; old password was hunter1
kind = "live"
name = "Gateway X"
version = "4.1"

[ugem]
smtp = "127.0.0.1:2525"
smtp_password = "hunter2"
api_key = "c2VjcmV0LXRva2VuLXZhbHVl"
relay_url = "smtp://relay:s3cr3t@10.0.0.5:25/"
stop = "systemctl stop gw"
pin = 1234
keyboard = "us"

[bus]
sync_url = "https://bus.example.kz/sync"
ca_root = "/etc/qaqpa/ca.pem"
signing_key = "/etc/qaqpa/harness-sign.pem"
token_file = "secrets/token.txt"
inline = """
-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIO
-----END PRIVATE KEY-----
"""

[bus.credentials]
user = "harness"
secret = "s3"
cert_path = "/etc/qaqpa/client.crt"
tokens = ["t1", "t2"]
"#;

    #[test]
    fn secrets_go_and_paths_stay() {
        let r = redact_target(TARGET, "lab.toml").unwrap();
        let t: toml::Table = toml::from_str(&r.text).unwrap();
        let get = |path: &str| {
            let mut v = toml::Value::Table(t.clone());
            for p in path.split('.') {
                v = v.get(p).unwrap_or_else(|| panic!("{path}")).clone();
            }
            v
        };
        // Values: redacted.
        for f in [
            "ugem.smtp_password",
            "ugem.api_key",
            "bus.inline",
            "bus.credentials.user",
            "bus.credentials.secret",
        ] {
            assert_eq!(get(f).as_str(), Some(REDACTED), "{f}");
        }
        assert_eq!(
            get("bus.credentials.tokens").as_array().unwrap(),
            &vec![REDACTED.into(), toml::Value::from(REDACTED)]
        );
        assert_eq!(
            get("ugem.relay_url").as_str(),
            Some("smtp://relay:REDACTED@10.0.0.5:25/")
        );
        // Paths and what is no secret: kept.
        assert_eq!(
            get("bus.signing_key").as_str(),
            Some("/etc/qaqpa/harness-sign.pem")
        );
        assert_eq!(get("bus.token_file").as_str(), Some("secrets/token.txt"));
        assert_eq!(
            get("bus.credentials.cert_path").as_str(),
            Some("/etc/qaqpa/client.crt")
        );
        assert_eq!(get("bus.ca_root").as_str(), Some("/etc/qaqpa/ca.pem"));
        assert_eq!(get("ugem.keyboard").as_str(), Some("us"));
        assert_eq!(
            get("ugem.pin").as_integer(),
            Some(1234),
            "a pin is not named as a secret"
        );
        assert_eq!(get("name").as_str(), Some("Gateway X"));
        // Nothing of the secrets is left anywhere, comments included.
        for s in [
            "hunter1", "hunter2", "c2VjcmV0", "s3cr3t", "MC4CAQ", "\"s3\"", "\"t1\"",
        ] {
            assert!(!r.text.contains(s), "{s} survives:\n{}", r.text);
        }
        assert!(!holds_pem_private_key(r.text.as_bytes()));
        assert!(r.text.contains("# Redacted: "), "{}", r.text);
        assert!(r.fields.contains(&"ugem.smtp_password".to_string()));
    }

    #[test]
    fn a_broken_target_file_is_named_with_its_line() {
        let e = redact_target("kind = \"live\"\nname = \n", "lab.toml").unwrap_err();
        assert_eq!(e.code, crate::error::BAD_INPUT);
        assert!(e.starts_with("lab.toml:2:"), "{e}");
    }

    #[test]
    fn pem_private_keys_are_found_whatever_their_kind() {
        for k in [
            "PRIVATE KEY",
            "RSA PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
        ] {
            let text = format!("x\n-----BEGIN {k}-----\nAAAA\n-----END {k}-----\n");
            assert!(holds_pem_private_key(text.as_bytes()), "{k}");
        }
        assert!(!holds_pem_private_key(
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n"
        ));
        assert!(!holds_pem_private_key(
            b"-----BEGIN CERTIFICATE-----\nPRIVATE KEY-----"
        ));
    }
}
