//! The go-ftw test-file format (the Core Rule Set's regression tests): reading every version
//! of it (ftw 1's `stage:` wrappers and list statuses, go-ftw 2's stages, go-ftw 3's
//! file-level `template` with per-test `payload`), turning each stage into the bytes a
//! harness client sends, and judging the answer in go-ftw's cloud mode: by the response,
//! since a vendor's WAF logs are not ours.
//!
//! Written from the published schema (coreruleset/ftw-tests-schema) and go-ftw's documented
//! request building; nothing here is keyed on the test files it is scored with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

// ---- the file as written ----

/// The file level is read leniently, as go-ftw reads it: a misplaced metadata field (an
/// `author` beside an empty `meta`) or a `tests:` left with every test commented out does
/// not stop the run. Within a test every field is checked: a typo there changes what is sent
/// or expected.
#[derive(Debug, Deserialize)]
struct RawFile {
    #[serde(default)]
    meta: Option<RawMeta>,
    #[serde(default)]
    rule_id: Option<u64>,
    #[serde(default)]
    template: Option<RawTemplate>,
    #[serde(default)]
    tests: Option<Vec<RawTest>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read to refuse unknown fields; the runner needs none of them
struct RawMeta {
    author: Option<String>,
    enabled: Option<bool>,
    name: Option<String>,
    description: Option<String>,
    version: Option<Scalar>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    test_title: Option<Scalar>,
    test_id: Option<u64>,
    id: Option<u64>,
    desc: Option<String>,
    description: Option<String>,
    payload: Option<Scalar>,
    template: Option<RawTemplate>,
    output: Option<RawOutput>,
    #[serde(default)]
    stages: Vec<RawStage>,
    #[serde(default)]
    tags: Vec<String>,
}

/// A stage: go-ftw's `{description, input, output}` or ftw 1's `{stage: {input, output}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    stage: Option<RawStageBody>,
    description: Option<String>,
    input: Option<RawInput>,
    output: Option<RawOutput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStageBody {
    input: RawInput,
    output: RawOutput,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    dest_addr: Option<String>,
    port: Option<u16>,
    protocol: Option<String>,
    uri: Option<Scalar>,
    #[serde(default)]
    uris: Vec<Scalar>,
    follow_redirect: Option<bool>,
    version: Option<Scalar>,
    method: Option<String>,
    headers: Option<OrderedMap>,
    #[serde(default)]
    ordered_headers: Vec<HeaderTuple>,
    data: Option<Data>,
    encoded_data: Option<String>,
    save_cookie: Option<bool>,
    stop_magic: Option<bool>,
    autocomplete_headers: Option<bool>,
    encoded_request: Option<String>,
    raw_request: Option<Data>,
    response: Option<RawResponse>,
    virtual_host_mode: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    dest_addr: Option<String>,
    port: Option<u16>,
    protocol: Option<String>,
    uri: Option<Scalar>,
    version: Option<Scalar>,
    method: Option<String>,
    #[serde(default)]
    headers: Option<Vec<HeaderTuple>>,
    data: Option<Data>,
    autocomplete_headers: Option<bool>,
    stop_magic: Option<bool>,
    save_cookie: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderTuple {
    name: Scalar,
    value: Scalar,
}

/// What a backend (go-ftw's Albedo) should answer: the response phase's test material.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawResponse {
    #[serde(default)]
    headers: Option<OrderedMap>,
    status: Option<u16>,
    body: Option<String>,
    encoded_body: Option<String>,
    log_message: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    status: Option<Statuses>,
    response_contains: Option<String>,
    /// ftw 1's name for `response_contains`.
    html_contains: Option<String>,
    log_contains: Option<String>,
    no_log_contains: Option<String>,
    log: Option<RawLog>,
    expect_error: Option<bool>,
    // Both concern the WAF's log, which cloud mode does not read: `retry_once` works around
    // a log race, `isolated` asks that no other rule fired.
    #[allow(dead_code)]
    retry_once: Option<bool>,
    #[allow(dead_code)]
    isolated: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    #[serde(default)]
    expect_ids: Vec<u64>,
    #[serde(default)]
    no_expect_ids: Vec<u64>,
    match_regex: Option<String>,
    no_match_regex: Option<String>,
}

/// A YAML scalar read as text whatever its type (`port: 80`, `version: 1.1`, `data: 1`).
#[derive(Debug, Clone, PartialEq)]
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A body: a string, or (ftw 1) a list of lines joined with CRLF.
#[derive(Debug, Clone)]
struct Data(String);

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Data, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Data;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of lines")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Data, E> {
                Ok(Data(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Data, E> {
                Ok(Data(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Data, E> {
                Ok(Data(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Data, E> {
                Ok(Data(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Data, E> {
                Ok(Data(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Data, E> {
                Ok(Data(String::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Data, A::Error> {
                let mut lines = Vec::new();
                while let Some(Scalar(l)) = seq.next_element()? {
                    lines.push(l);
                }
                Ok(Data(lines.join("\r\n")))
            }
        }
        d.deserialize_any(V)
    }
}

/// An HTTP status expectation: one code (go-ftw) or a list of acceptable codes (ftw 1).
#[derive(Debug, Clone)]
struct Statuses(Vec<u16>);

impl<'de> Deserialize<'de> for Statuses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Statuses, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Statuses;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an HTTP status code or a list of them")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Statuses, E> {
                u16::try_from(v)
                    .map(|s| Statuses(vec![s]))
                    .map_err(|_| E::custom(format!("{v} is not an HTTP status code")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Statuses, E> {
                u16::try_from(v)
                    .map(|s| Statuses(vec![s]))
                    .map_err(|_| E::custom(format!("{v} is not an HTTP status code")))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Statuses, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<u16>()? {
                    v.push(s);
                }
                Ok(Statuses(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A YAML mapping of header names to values, in the order written.
#[derive(Debug, Default, Clone)]
struct OrderedMap(Vec<(String, String)>);

impl<'de> Deserialize<'de> for OrderedMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OrderedMap, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of header names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<OrderedMap, A::Error> {
                let mut v = Vec::new();
                while let Some((Scalar(k), Scalar(val))) = m.next_entry()? {
                    v.push((k, val));
                }
                Ok(OrderedMap(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OrderedMap, E> {
                Ok(OrderedMap::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// Only what names a test, read first so that an error in the strict reading can name the
/// test it is in.
#[derive(Deserialize)]
struct LooseFile {
    #[serde(default)]
    rule_id: Option<u64>,
    #[serde(default)]
    tests: Option<Vec<serde_saphyr::Spanned<LooseTest>>>,
}

#[derive(Deserialize)]
struct LooseTest {
    test_title: Option<Scalar>,
    test_id: Option<u64>,
    id: Option<u64>,
}

// ---- the tests as the runner uses them ----

/// One test file, read and checked.
#[derive(Debug, Clone)]
pub struct TestFile {
    pub path: PathBuf,
    pub rule_id: u64,
    pub tests: Vec<Test>,
}

#[derive(Debug, Clone)]
pub struct Test {
    pub rule_id: u64,
    /// `<rule>-<test>`, go-ftw's test id.
    pub id: String,
    pub stages: Vec<Stage>,
    /// Why the harness cannot send this test as written (a template it does not evaluate, a
    /// backend it does not have).
    pub unrunnable: Option<String>,
}

impl Test {
    /// The rule family: the first three digits of the rule id (942 for 942100 and for a
    /// seven-digit sub-rule such as 9421001).
    pub fn family(&self) -> u64 {
        let mut f = self.rule_id;
        while f >= 1000 {
            f /= 10;
        }
        f
    }
}

#[derive(Debug, Clone)]
pub struct Stage {
    /// One request per URI (`uris` repeats the stage for each).
    pub requests: Vec<Vec<u8>>,
    pub follow_redirect: bool,
    pub save_cookie: bool,
    pub tls: bool,
    pub expect: Expect,
}

/// A stage's expectations, as the file states them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// Rule ids that must fire (`log.expect_ids`, or `id N` in `log_contains`).
    pub fire: Vec<u64>,
    /// Rule ids that must not fire.
    pub quiet: Vec<u64>,
    /// A log pattern that must (or must not) match, with no rule id in it.
    pub log_match: bool,
    pub log_no_match: bool,
    pub status: Vec<u16>,
    pub response_contains: Option<String>,
    pub expect_error: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FtwError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{file}: test {test}: {message}")]
    Test {
        file: String,
        test: String,
        message: String,
    },
}

/// Reads every `*.yaml`/`*.yml` below `dir`, in path order.
pub fn read_dir(dir: &Path) -> Result<Vec<TestFile>, FtwError> {
    let mut files = Vec::new();
    collect(dir, &mut files).map_err(|e| FtwError::File {
        file: dir.display().to_string(),
        message: e.to_string(),
    })?;
    files.sort();
    if files.is_empty() {
        return Err(FtwError::File {
            file: dir.display().to_string(),
            message: "no go-ftw test files (*.yaml) in this folder".into(),
        });
    }
    files.iter().map(|f| read_file(f)).collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    Ok(())
}

pub fn read_file(path: &Path) -> Result<TestFile, FtwError> {
    let text = std::fs::read_to_string(path).map_err(|e| FtwError::File {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse(&text, path)
}

/// The rule id a file is about when it does not say: the digits its name starts with.
fn rule_from_name(path: &Path) -> Option<u64> {
    let stem = path.file_stem()?.to_str()?;
    let digits: String = stem.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// A test's id: `test_id`/`id`, else the number after the dash of its title, else its
/// position (1-based), as go-ftw infers it.
fn test_number(title: Option<&str>, test_id: Option<u64>, id: Option<u64>, pos: usize) -> u64 {
    test_id
        .filter(|&n| n != 0)
        .or(id.filter(|&n| n != 0))
        .or_else(|| {
            title
                .and_then(|t| t.rsplit('-').next())
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(pos as u64 + 1)
}

pub fn parse(text: &str, path: &Path) -> Result<TestFile, FtwError> {
    let file = path.display().to_string();
    let loose: Result<LooseFile, _> = serde_saphyr::from_str(text);
    let raw: RawFile = match serde_saphyr::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let line = e.location().map(|l| l.line()).unwrap_or(0);
            let message = e.to_string().lines().next().unwrap_or_default().to_string();
            // Name the test the error is in: the last one that starts at or before it.
            if let Ok(l) = &loose {
                let rule = l.rule_id.or_else(|| rule_from_name(path)).unwrap_or(0);
                if let Some((i, t)) = l
                    .tests
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(_, t)| line > 0 && t.referenced.line() <= line)
                {
                    let n = test_number(
                        t.value.test_title.as_ref().map(|s| s.0.as_str()),
                        t.value.test_id,
                        t.value.id,
                        i,
                    );
                    return Err(FtwError::Test {
                        file,
                        test: format!("{rule}-{n}"),
                        message: format!("line {line}: {message}"),
                    });
                }
            }
            return Err(FtwError::File {
                file,
                message: format!("line {line}: {message}"),
            });
        }
    };
    let rule_id = raw
        .rule_id
        .or_else(|| rule_from_name(path))
        .ok_or_else(|| FtwError::File {
            file: file.clone(),
            message: "no `rule_id`, and the file name does not start with one".into(),
        })?;
    let _ = raw.meta;
    let mut tests = Vec::new();
    for (i, t) in raw.tests.unwrap_or_default().into_iter().enumerate() {
        let n = test_number(
            t.test_title.as_ref().map(|s| s.0.as_str()),
            t.test_id,
            t.id,
            i,
        );
        let id = format!("{rule_id}-{n}");
        let bad = |message: String| FtwError::Test {
            file: file.clone(),
            test: id.clone(),
            message,
        };
        let _ = (&t.desc, &t.description, &t.tags);
        let test = build_test(t, raw.template.as_ref(), rule_id, &id).map_err(bad)?;
        tests.push(test);
    }
    Ok(TestFile {
        path: path.to_path_buf(),
        rule_id,
        tests,
    })
}

/// Builds a test's stages: its own, or (go-ftw 3) one stage from the template and payload.
fn build_test(
    t: RawTest,
    file_template: Option<&RawTemplate>,
    rule_id: u64,
    id: &str,
) -> Result<Test, String> {
    let mut unrunnable = None;
    let mut stages = Vec::new();
    if let Some(payload) = &t.payload {
        if !t.stages.is_empty() {
            return Err("has both `payload` and `stages`; a test uses one or the other".into());
        }
        let tpl = merge_templates(file_template, t.template.as_ref()).ok_or_else(|| {
            "has a `payload` but neither the file nor the test has a `template`".to_string()
        })?;
        let output = t
            .output
            .clone()
            .ok_or_else(|| "has a `payload` but no `output`".to_string())?;
        let input = RawInput {
            dest_addr: tpl.dest_addr.clone(),
            port: tpl.port,
            protocol: tpl.protocol.clone(),
            uri: tpl.uri.clone(),
            version: tpl.version.clone(),
            method: tpl.method.clone(),
            ordered_headers: tpl.headers.clone().unwrap_or_default(),
            data: tpl.data.clone(),
            autocomplete_headers: tpl.autocomplete_headers,
            stop_magic: tpl.stop_magic,
            save_cookie: tpl.save_cookie,
            ..RawInput::default()
        };
        match stage(&input, &output, Some(&payload.0), true) {
            Ok(s) => stages.push(s),
            Err(Unrunnable(why)) => unrunnable = Some(why),
        }
    } else {
        if t.stages.is_empty() {
            return Err("has no `stages` (and no `payload`)".into());
        }
        if t.output.is_some() || t.template.is_some() {
            return Err(
                "`output` and `template` belong to a `payload` test; this one has `stages`".into(),
            );
        }
        for (k, s) in t.stages.into_iter().enumerate() {
            let (input, output) = match (s.stage, s.input, s.output) {
                (Some(body), None, None) => (body.input, body.output),
                (None, Some(i), Some(o)) => (i, o),
                (None, Some(_), None) => {
                    return Err(format!("stage {}: has an `input` but no `output`", k + 1));
                }
                (None, None, _) => return Err(format!("stage {}: has no `input`", k + 1)),
                (Some(_), _, _) => {
                    return Err(format!(
                        "stage {}: mixes ftw 1's `stage:` wrapper with `input`/`output` beside it",
                        k + 1
                    ));
                }
            };
            let _ = s.description;
            match stage(&input, &output, None, false) {
                Ok(st) => stages.push(st),
                Err(Unrunnable(why)) => {
                    unrunnable.get_or_insert(format!("stage {}: {why}", k + 1));
                }
            }
        }
    }
    Ok(Test {
        rule_id,
        id: id.to_string(),
        stages,
        unrunnable,
    })
}

fn merge_templates(file: Option<&RawTemplate>, test: Option<&RawTemplate>) -> Option<RawTemplate> {
    match (file, test) {
        (None, None) => None,
        (Some(f), None) => Some(f.clone()),
        (None, Some(t)) => Some(t.clone()),
        (Some(f), Some(t)) => Some(RawTemplate {
            dest_addr: t.dest_addr.clone().or(f.dest_addr.clone()),
            port: t.port.or(f.port),
            protocol: t.protocol.clone().or(f.protocol.clone()),
            uri: t.uri.clone().or(f.uri.clone()),
            version: t.version.clone().or(f.version.clone()),
            method: t.method.clone().or(f.method.clone()),
            headers: t.headers.clone().or(f.headers.clone()),
            data: t.data.clone().or(f.data.clone()),
            autocomplete_headers: t.autocomplete_headers.or(f.autocomplete_headers),
            stop_magic: t.stop_magic.or(f.stop_magic),
            save_cookie: t.save_cookie.or(f.save_cookie),
        }),
    }
}

/// A test the harness reads correctly but cannot send as written.
struct Unrunnable(String);

fn stage(
    input: &RawInput,
    output: &RawOutput,
    payload: Option<&str>,
    templated_fields: bool,
) -> Result<Stage, Unrunnable> {
    let expect = expectations(output);
    if input.response.is_some() {
        return Err(Unrunnable(
            "`input.response` asks the backend to answer as described (go-ftw's Albedo backend); the harness's origin does not take instructions".into(),
        ));
    }
    let _ = (&input.dest_addr, input.port, input.virtual_host_mode);
    let tls = input
        .protocol
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let requests = if let Some(enc) = &input.encoded_request {
        vec![base64_decode(enc).map_err(|e| Unrunnable(format!("encoded_request: {e}")))?]
    } else if let Some(raw) = &input.raw_request {
        vec![raw.0.clone().into_bytes()]
    } else {
        let uris: Vec<String> = if input.uris.is_empty() {
            vec![input.uri.clone().map(|s| s.0).unwrap_or_else(|| "/".into())]
        } else {
            input.uris.iter().map(|s| s.0.clone()).collect()
        };
        let mut out = Vec::new();
        for uri in uris {
            out.push(build_request(input, &uri, payload, templated_fields)?);
        }
        out
    };
    Ok(Stage {
        requests,
        follow_redirect: input.follow_redirect.unwrap_or(false),
        save_cookie: input.save_cookie.unwrap_or(false),
        tls,
        expect,
    })
}

fn expectations(o: &RawOutput) -> Expect {
    let log = o.log.clone().unwrap_or_default();
    let mut e = Expect {
        fire: log.expect_ids,
        quiet: log.no_expect_ids,
        log_match: log.match_regex.is_some_and(|r| !r.is_empty()),
        log_no_match: log.no_match_regex.is_some_and(|r| !r.is_empty()),
        status: o.status.clone().map(|s| s.0).unwrap_or_default(),
        response_contains: o
            .response_contains
            .clone()
            .or(o.html_contains.clone())
            .filter(|s| !s.is_empty()),
        expect_error: o.expect_error.unwrap_or(false),
    };
    // The deprecated log_contains names rule ids as `id "942100"` or `id:942100`.
    for (text, into_fire) in [(&o.log_contains, true), (&o.no_log_contains, false)] {
        let Some(text) = text.as_deref().filter(|t| !t.is_empty()) else {
            continue;
        };
        let ids = ids_in_log_pattern(text);
        match (ids.is_empty(), into_fire) {
            (true, true) => e.log_match = true,
            (true, false) => e.log_no_match = true,
            (false, true) => e.fire.extend(ids),
            (false, false) => e.quiet.extend(ids),
        }
    }
    e
}

/// Rule ids in a log pattern: six-digit numbers after `id`.
fn ids_in_log_pattern(p: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let lower = p.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("id") {
        rest = &rest[i + 2..];
        let digits: String = rest
            .chars()
            .skip_while(|c| !c.is_ascii_digit() && matches!(c, ' ' | ':' | '"' | '\'' | '\\' | '['))
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if digits.len() == 6
            && let Ok(n) = digits.parse()
        {
            out.push(n);
        }
    }
    out
}

/// go-ftw's request building: the request line, the headers (a `headers` map is written in
/// name order, `ordered_headers` as listed), the standard headers it completes unless told
/// not to, and the body.
fn build_request(
    input: &RawInput,
    uri: &str,
    payload: Option<&str>,
    templated_fields: bool,
) -> Result<Vec<u8>, Unrunnable> {
    let method = input.method.clone().unwrap_or_else(|| "GET".into());
    let version = input
        .version
        .clone()
        .map(|s| s.0)
        .unwrap_or_else(|| "HTTP/1.1".into());
    let uri = if templated_fields {
        expand(uri, payload).map_err(Unrunnable)?
    } else {
        uri.to_string()
    };
    let mut headers: Vec<(String, String)> = match &input.headers {
        Some(m) => {
            let mut h = m.0.clone();
            h.sort_by(|a, b| a.0.cmp(&b.0));
            h
        }
        None => Vec::new(),
    };
    for t in &input.ordered_headers {
        let value = if templated_fields {
            expand(&t.value.0, payload).map_err(Unrunnable)?
        } else {
            t.value.0.clone()
        };
        headers.push((t.name.0.clone(), value));
    }
    let mut body: Vec<u8> = match (&input.data, &input.encoded_data) {
        (Some(_), Some(_)) => {
            return Err(Unrunnable(
                "has both `data` and `encoded_data`; go-ftw sends one".into(),
            ));
        }
        (Some(d), None) => expand(&d.0, payload).map_err(Unrunnable)?.into_bytes(),
        (None, Some(e)) => {
            base64_decode(e).map_err(|e| Unrunnable(format!("encoded_data: {e}")))?
        }
        (None, None) => Vec::new(),
    };
    let autocomplete = input
        .autocomplete_headers
        .unwrap_or(!input.stop_magic.unwrap_or(false));
    let get = |h: &[(String, String)], k: &str| {
        h.iter()
            .find(|(n, v)| n.eq_ignore_ascii_case(k) && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    if !body.is_empty() && autocomplete {
        if get(&headers, "Content-Type").is_none() {
            headers.push((
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
        }
        if get(&headers, "Content-Type").as_deref() == Some("application/x-www-form-urlencoded") {
            body = form_encode(&body);
        }
    }
    if get(&headers, "Content-Type").is_some_and(|ct| ct.starts_with("multipart/form-data;")) {
        // go-ftw ends every line of a multipart body with CRLF (bodies are written with LF).
        let mut out = Vec::with_capacity(body.len() + 16);
        for &b in &body {
            if b == b'\n' {
                out.push(b'\r');
            }
            out.push(b);
        }
        body = out;
    }
    if autocomplete {
        if get(&headers, "Connection").is_none() {
            headers.push(("Connection".into(), "close".into()));
        }
        let body_method = method.starts_with("POST")
            || method.contains("PUT")
            || method.contains("PATCH")
            || method.ends_with("DELETE");
        if (!body.is_empty() || body_method) && get(&headers, "Content-Length").is_none() {
            headers.push(("Content-Length".into(), body.len().to_string()));
        }
    }
    let mut out = format!("{method} {uri} {version}\r\n").into_bytes();
    for (k, v) in &headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Ok(out)
}

/// go-ftw URL-encodes `key=value&…` form bodies that are not encoded already (unescaping
/// them changes nothing), key and value apart so that `=` and `&` survive.
fn form_encode(body: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(body) else {
        return body.to_vec();
    };
    match query_unescape(text) {
        Some(u) if u == text => {}
        _ => return body.to_vec(),
    }
    let parts: Vec<String> = text
        .split('&')
        .map(|tok| match tok.split_once('=') {
            Some((k, v)) => format!("{}={}", query_escape(k), query_escape(v)),
            None => query_escape(tok),
        })
        .collect();
    parts.join("&").into_bytes()
}

/// Go's `url.QueryEscape`: unreserved bytes stay, space becomes `+`, the rest `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `url.QueryUnescape`; `None` on a malformed escape.
fn query_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = b.get(i + 1..i + 3)?;
                let h = std::str::from_utf8(h).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Evaluates the Go template expressions go-ftw allows in a request's fields: the payload
/// (`{{.Payload}}`) and the sprig `repeat` function. Any other expression is named as the
/// reason the test cannot be sent.
fn expand(s: &str, payload: Option<&str>) -> Result<String, String> {
    if !s.contains("{{") {
        return Ok(s.to_string());
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            return Err(format!("an unclosed template expression in `{s}`"));
        };
        let expr = after[..j]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        out.push_str(&eval(expr, payload).ok_or_else(|| {
            format!("the Go template expression `{{{{{expr}}}}}` is not one the harness evaluates (it knows .Payload and repeat)")
        })?);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn eval(expr: &str, payload: Option<&str>) -> Option<String> {
    if expr == ".Payload" {
        return payload.map(str::to_string);
    }
    let string_lit = |t: &str| -> Option<String> {
        let t = t.trim();
        if t.len() >= 2
            && (t.starts_with('"') && t.ends_with('"') || t.starts_with('`') && t.ends_with('`'))
        {
            Some(unquote(&t[1..t.len() - 1], t.starts_with('"')))
        } else if t == ".Payload" {
            payload.map(str::to_string)
        } else {
            None
        }
    };
    // `"x" | repeat N`
    if let Some((lhs, rhs)) = expr.split_once('|') {
        let s = string_lit(lhs)?;
        let mut w = rhs.split_whitespace();
        if w.next()? != "repeat" {
            return None;
        }
        let n: usize = w.next()?.parse().ok()?;
        return w.next().is_none().then(|| s.repeat(n));
    }
    // `repeat N "x"`
    let rest = expr.strip_prefix("repeat ")?;
    let rest = rest.trim_start();
    let (n, s) = rest.split_once(char::is_whitespace)?;
    let n: usize = n.parse().ok()?;
    Some(string_lit(s)?.repeat(n))
}

fn unquote(s: &str, escapes: bool) -> String {
    if !escapes {
        return s.to_string();
    }
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// Standard base64 (padding optional), as go-ftw's encoded fields use it.
pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for (i, c) in s.bytes().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return Err(format!("byte {i} (`{}`) is not base64", c as char)),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

// ---- judging, in cloud mode ----

/// What a stage expects of the WAF, judged by the response alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Want {
    /// Rules must fire: the WAF must refuse (its blocking status).
    Blocked,
    /// Named rules must not fire (and none must): the request must pass.
    Passed,
    /// A status, a text in the response, or an error, with nothing said of the rules.
    Other,
}

impl Expect {
    /// `level_of` gives a rule's paranoia level; rules above `paranoia` never fire at the
    /// WAF's level, so a stage that only expects those cannot be judged: `None`.
    pub fn want(&self, level_of: &dyn Fn(u64) -> Option<u8>, paranoia: u8) -> Option<Want> {
        if !self.fire.is_empty() {
            let live = self
                .fire
                .iter()
                .any(|id| level_of(*id).is_none_or(|l| l <= paranoia));
            return live.then_some(Want::Blocked);
        }
        if self.log_match {
            return Some(Want::Blocked);
        }
        if !self.quiet.is_empty() || self.log_no_match {
            return Some(Want::Passed);
        }
        Some(Want::Other)
    }
}

/// What the harness's client got for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// No HTTP answer: refused connection, reset, timeout, or bytes that are not HTTP.
    NoResponse(String),
}

impl Answer {
    pub fn status(&self) -> Option<u16> {
        match self {
            Answer::Response { status, .. } => Some(*status),
            Answer::NoResponse(_) => None,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        match self {
            Answer::Response { headers, .. } => headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str()),
            Answer::NoResponse(_) => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Answer::Response { status, .. } => format!("HTTP {status}"),
            Answer::NoResponse(why) => format!("no response ({why})"),
        }
    }
}

/// Whether an answer meets a stage's expectation. `block_status` is the WAF's refusal
/// status (go-ftw's cloud mode expects 403).
pub fn meets(expect: &Expect, want: Want, answer: &Answer, block_status: u16) -> bool {
    if expect.expect_error {
        return matches!(answer, Answer::NoResponse(_));
    }
    let Answer::Response { status, body, .. } = answer else {
        return false;
    };
    let contains = || {
        expect.response_contains.as_ref().is_none_or(|t| {
            let b = String::from_utf8_lossy(body);
            b.contains(t.as_str())
        })
    };
    match want {
        Want::Blocked => *status == block_status,
        Want::Passed => *status != block_status && contains(),
        Want::Other => (expect.status.is_empty() || expect.status.contains(status)) && contains(),
    }
}

/// Rule paranoia levels from a rule set's files: each `id:N` with its `paranoia-level/L`
/// tag (rules without one are level 1, as the rule set's own initialisation treats them).
pub fn paranoia_levels(rules_dir: &Path) -> std::io::Result<BTreeMap<u64, u8>> {
    let mut out = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(rules_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        // A rule is a directive joined across backslash-continued lines; chained rules carry
        // their own ids only sometimes, so the level is taken per directive.
        let joined = text.replace("\\\n", " ");
        for line in joined.lines() {
            let line = line.trim_start();
            if !(line.starts_with("SecRule") || line.starts_with("SecAction")) {
                continue;
            }
            let Some(id) = find_id(line) else { continue };
            let level = line
                .find("paranoia-level/")
                .and_then(|i| line[i + 15..].chars().next())
                .and_then(|c| c.to_digit(10))
                .map(|d| d as u8)
                .unwrap_or(1);
            out.insert(id, level);
        }
    }
    Ok(out)
}

fn find_id(line: &str) -> Option<u64> {
    let mut rest = line;
    while let Some(i) = rest.find("id:") {
        let before = rest[..i].chars().last();
        rest = &rest[i + 3..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let digits: String = rest
            .trim_start_matches(['\'', '"'])
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if let Ok(n) = digits.parse() {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(yaml: &str) -> Result<TestFile, FtwError> {
        parse(yaml, Path::new("tests/942100.yaml"))
    }

    const V2: &str = r#"
meta:
  author: someone
rule_id: 942100
tests:
  - test_id: 1
    desc: a test
    stages:
      - input:
          dest_addr: 127.0.0.1
          port: 80
          method: POST
          headers:
            User-Agent: "OWASP CRS test agent"
            Host: localhost
          uri: /post
          data: "var=1' or '1'='1"
        output:
          log:
            expect_ids: [942100]
  - test_id: 2
    stages:
      - input:
          uri: "/get?x=1"
          version: HTTP/1.0
          headers:
            Host: localhost
          autocomplete_headers: false
        output:
          status: 200
          log:
            no_expect_ids: [942100]
"#;

    #[test]
    fn go_ftw_2_stages_become_the_bytes_go_ftw_sends() {
        let f = one(V2).unwrap();
        assert_eq!(f.rule_id, 942100);
        assert_eq!(f.tests.len(), 2);
        let t = &f.tests[0];
        assert_eq!(t.id, "942100-1");
        let req = String::from_utf8(t.stages[0].requests[0].clone()).unwrap();
        // Headers in name order, then the completed ones; the form body URL-encoded.
        let body = "var=1%27+or+%271%27%3D%271";
        assert_eq!(
            req,
            format!(
                "POST /post HTTP/1.1\r\nHost: localhost\r\nUser-Agent: OWASP CRS test agent\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        );
        assert_eq!(t.stages[0].expect.fire, vec![942100]);
        let req2 = String::from_utf8(f.tests[1].stages[0].requests[0].clone()).unwrap();
        assert_eq!(req2, "GET /get?x=1 HTTP/1.0\r\nHost: localhost\r\n\r\n");
    }

    #[test]
    fn ftw_1_wrappers_lists_and_log_contains_are_read() {
        let y = r#"
meta: {author: a, enabled: true, name: "941100.yaml"}
tests:
  - test_title: 941100-3
    stages:
      - stage:
          input:
            uri: "/?x=<script>"
            headers: {Host: localhost}
            stop_magic: true
          output:
            status: [200, 403]
            log_contains: id "941100"
"#;
        let f = parse(y, Path::new("x/941100.yaml")).unwrap();
        assert_eq!(f.tests[0].id, "941100-3");
        let e = &f.tests[0].stages[0].expect;
        assert_eq!(e.fire, vec![941100]);
        assert_eq!(e.status, vec![200, 403]);
        let req = String::from_utf8(f.tests[0].stages[0].requests[0].clone()).unwrap();
        assert_eq!(req, "GET /?x=<script> HTTP/1.1\r\nHost: localhost\r\n\r\n");
    }

    #[test]
    fn go_ftw_3_templates_and_payloads_and_encoded_requests() {
        let y = r#"
meta: {author: a}
rule_id: 932100
template:
  method: GET
  uri: "/?cmd={{.Payload}}"
  headers:
    - {name: Host, value: localhost}
    - {name: X-Pad, value: '{{ "ab" | repeat 3 }}'}
tests:
  - id: 7
    payload: ";cat /etc/passwd"
    output: {log: {expect_ids: [932100]}}
  - id: 8
    stages:
      - input:
          encoded_request: "R0VUIC8gSFRUUC8xLjENCkhvc3Q6IGxvY2FsaG9zdA0KDQo="
        output: {expect_error: true}
"#;
        let f = parse(y, Path::new("x.yaml")).unwrap();
        let req = String::from_utf8(f.tests[0].stages[0].requests[0].clone()).unwrap();
        assert_eq!(
            req,
            "GET /?cmd=;cat /etc/passwd HTTP/1.1\r\nHost: localhost\r\nX-Pad: ababab\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(f.tests[1].id, "932100-8");
        assert_eq!(
            f.tests[1].stages[0].requests[0],
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
        );
        assert!(f.tests[1].stages[0].expect.expect_error);
    }

    #[test]
    fn unknown_fields_and_broken_stages_name_the_file_and_test() {
        let bad = V2.replace("desc: a test", "desc: a test\n    colour: red");
        let e = one(&bad).unwrap_err().to_string();
        assert!(e.starts_with("tests/942100.yaml: test 942100-1:"), "{e}");
        assert!(e.contains("colour"), "{e}");
        let bad = V2.replace(
            "          status: 200\n",
            "          status: 200\n          stauts: 1\n",
        );
        let e = one(&bad).unwrap_err().to_string();
        assert!(e.contains("test 942100-2") && e.contains("stauts"), "{e}");
        let bad = V2.replace(
            "        output:\n          status: 200\n          log:\n            no_expect_ids: [942100]\n",
            "",
        );
        let e = one(&bad).unwrap_err().to_string();
        assert!(
            e.contains("test 942100-2") && e.contains("no `output`"),
            "{e}"
        );
    }

    #[test]
    fn unsupported_templates_are_named_not_sent() {
        let y = V2.replace("data: \"var=1' or '1'='1\"", "data: '{{ env \"HOME\" }}'");
        let f = one(&y).unwrap();
        let why = f.tests[0].unrunnable.as_deref().unwrap();
        assert!(why.contains("env \"HOME\""), "{why}");
    }

    #[test]
    fn cloud_mode_judges_by_the_status() {
        let e = Expect {
            fire: vec![942100],
            ..Expect::default()
        };
        let level = |id: u64| (id == 942100).then_some(1);
        assert_eq!(e.want(&level, 1), Some(Want::Blocked));
        let high = |_: u64| Some(3);
        assert_eq!(e.want(&high, 1), None, "a PL3 rule cannot fire at PL1");
        let r403 = Answer::Response {
            status: 403,
            headers: vec![],
            body: vec![],
        };
        let r200 = Answer::Response {
            status: 200,
            headers: vec![],
            body: b"hello".to_vec(),
        };
        assert!(meets(&e, Want::Blocked, &r403, 403));
        assert!(!meets(&e, Want::Blocked, &r200, 403));
        assert!(meets(&e, Want::Passed, &r200, 403));
        assert!(!meets(
            &e,
            Want::Passed,
            &Answer::NoResponse("reset".into()),
            403
        ));
    }

    #[test]
    fn paranoia_levels_come_from_the_rule_tags() {
        let dir = std::env::temp_dir().join(format!("qaqpa-pl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("R.conf"),
            "SecRule ARGS \"@rx a\" \\\n    \"id:941100,\\\n    tag:'paranoia-level/1'\"\nSecRule ARGS \"@rx b\" \\\n    \"id:941101,\\\n    tag:'paranoia-level/2'\"\n",
        )
        .unwrap();
        let l = paranoia_levels(&dir).unwrap();
        assert_eq!(l.get(&941100), Some(&1));
        assert_eq!(l.get(&941101), Some(&2));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
