//! `--waivers FILE`: reading and checking a waivers file, and the day its expiries are judged
//! against. What a waiver does to a report is in `qaqpa_reports::waiver`.
//!
//! The file is TOML, one `[[waiver]]` table per waiver:
//!
//! ```toml
//! [[waiver]]
//! clause = "ugem-12"                  # a clause id (`qaqpa clauses`)
//! obligation = "offender-suspended"   # optional: one obligation (`qaqpa explain ugem-12`)
//! reason = "suspension ships in release 4.2"
//! approver = "A. Seitkali, certification board"
//! expires = 2026-06-30                # the last day it holds (Asia/Almaty)
//! ```
//!
//! Unknown fields, a missing field, an empty reason or approver, an expiry that is not a date,
//! an unknown clause or obligation ("did you mean"), an obligation no machine can judge (it
//! cannot fail, so there is nothing to waive) and two waivers over the same obligation are
//! errors naming the file, the line and the field.

use std::ops::Range;
use std::path::Path;

use qaqpa_reports::catalogue::Catalogue;
use qaqpa_reports::waiver::Waiver;
use qaqpa_sim::jiff::Timestamp;
use qaqpa_sim::jiff::civil::Date;
use serde::Deserialize;
use toml::Spanned;

use crate::error::CliError;
use crate::ids;

/// A checked waivers file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverFile {
    /// The path as given.
    pub file: String,
    /// The file's bytes, copied into the run's folder so that a bundle carries what was
    /// signed off.
    pub text: String,
    pub waivers: Vec<Waiver>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    #[serde(default)]
    waiver: Vec<Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    clause: Spanned<String>,
    #[serde(default)]
    obligation: Option<Spanned<String>>,
    reason: Spanned<String>,
    approver: Spanned<String>,
    expires: Spanned<toml::Value>,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        line_col(self.text, span.start).0
    }

    fn err(&self, span: &Range<usize>, field: &str, message: &str) -> CliError {
        let (line, col) = line_col(self.text, span.start);
        CliError::input(format!(
            "--waivers {}:{line}:{col}: `{field}`: {message}",
            self.file
        ))
    }
}

/// Reads and checks the waivers file at `path`.
pub fn load(path: &Path) -> Result<WaiverFile, CliError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::input(format!("--waivers {file}: cannot read it: {e}")))?;
    let waivers = parse(&text, &file)?;
    Ok(WaiverFile {
        file,
        text,
        waivers,
    })
}

/// Checks a waivers file's text; `file` names it in errors and in each waiver's `at`.
pub fn parse(text: &str, file: &str) -> Result<Vec<Waiver>, CliError> {
    let ctx = Ctx { file, text };
    let doc: Doc = toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        CliError::input(format!(
            "--waivers {file}:{line}:{col}: {} (each waiver is a [[waiver]] table with clause, optional obligation, reason, approver and expires)",
            e.message().trim_end()
        ))
    })?;
    let cat = Catalogue::standard();
    let mut out: Vec<Waiver> = Vec::new();
    // Which waiver covers each `clause/obligation`, to refuse two over the same one.
    let mut covered: Vec<(String, usize)> = Vec::new();
    for entry in &doc.waiver {
        let at_line = ctx.line(&entry.span());
        let e = entry.get_ref();
        let clause_id = ids::resolve(
            "clause",
            e.clause.get_ref(),
            cat.clauses().iter().map(|c| c.id.as_str()),
            "`qaqpa clauses`",
        )
        .map_err(|m| ctx.err(&e.clause.span(), "clause", &m))?;
        let clause = cat.get(clause_id).expect("resolved against the catalogue");
        let obligation = match &e.obligation {
            None => None,
            Some(o) => {
                let id = ids::resolve(
                    &format!("obligation of {clause_id}"),
                    o.get_ref(),
                    clause.obligations.iter().map(|x| x.id.as_str()),
                    &format!("`qaqpa explain {clause_id}`"),
                )
                .map_err(|m| ctx.err(&o.span(), "obligation", &m))?;
                Some((id, o.span()))
            }
        };
        let checkable: Vec<&str> = clause
            .obligations
            .iter()
            .filter(|o| o.machine_checkable())
            .filter(|o| obligation.as_ref().is_none_or(|(id, _)| *id == o.id))
            .map(|o| o.id.as_str())
            .collect();
        if checkable.is_empty() {
            let (span, field, what) = match &obligation {
                Some((id, span)) => (span.clone(), "obligation", format!("{clause_id}/{id}")),
                None => (e.clause.span(), "clause", clause_id.to_string()),
            };
            return Err(ctx.err(
                &span,
                field,
                &format!(
                    "{what} is not machine-checkable: no run can fail it, so there is nothing to waive"
                ),
            ));
        }
        for ob in checkable {
            let key = format!("{clause_id}/{ob}");
            if let Some((_, first)) = covered.iter().find(|(k, _)| *k == key) {
                return Err(ctx.err(
                    &e.clause.span(),
                    "clause",
                    &format!(
                        "{key} is already waived by the waiver at line {first}; one waiver per obligation"
                    ),
                ));
            }
            covered.push((key, at_line));
        }
        let text_field = |v: &Spanned<String>, name: &str| -> Result<String, CliError> {
            let t = v.get_ref().trim();
            if t.is_empty() {
                Err(ctx.err(
                    &v.span(),
                    name,
                    "is empty: a waiver says why the failure is accepted and who accepted it",
                ))
            } else {
                Ok(t.to_string())
            }
        };
        let reason = text_field(&e.reason, "reason")?;
        let approver = text_field(&e.approver, "approver")?;
        let expires = expiry(&e.expires).map_err(|m| ctx.err(&e.expires.span(), "expires", &m))?;
        out.push(Waiver {
            at: format!("{file}:{at_line}"),
            clause: clause_id.to_string(),
            obligation: obligation.map(|(id, _)| id.to_string()),
            reason,
            approver,
            expires,
        });
    }
    Ok(out)
}

/// A TOML date (`2026-06-30`) or a string holding one.
fn expiry(v: &Spanned<toml::Value>) -> Result<Date, String> {
    let expected = "expected the last day the waiver holds, as a date such as 2026-06-30";
    match v.get_ref() {
        toml::Value::Datetime(d) => match (d.date, d.time, d.offset) {
            (Some(day), None, None) => Date::new(day.year as i16, day.month as i8, day.day as i8)
                .map_err(|e| format!("{e}; {expected}")),
            _ => Err(format!("`{d}` has a time of day; {expected}")),
        },
        toml::Value::String(s) => s
            .trim()
            .parse::<Date>()
            .map_err(|_| format!("`{s}` is not a date; {expected}")),
        other => Err(format!("a {}; {expected}", other.type_str())),
    }
}

/// The day waivers' expiries are judged against, in Asia/Almaty: `SOURCE_DATE_EPOCH` (whole
/// seconds since 1970, the reproducible-builds convention the HTML report's run date uses)
/// when set, else today by the clock. Reports judged with waivers carry this day, so they are
/// byte-identical only under a fixed `SOURCE_DATE_EPOCH`.
pub fn checked_on(source_date_epoch: Option<&str>) -> Result<Date, CliError> {
    let t = match source_date_epoch.map(str::trim) {
        None | Some("") => Timestamp::now(),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .and_then(|n| Timestamp::from_second(n).ok())
            .ok_or_else(|| {
                CliError::input(format!(
                    "SOURCE_DATE_EPOCH `{s}` is not whole seconds since 1970-01-01, so the waivers' expiry cannot be checked"
                ))
            })?,
    };
    Ok(qaqpa_sim::clock::local(t).date())
}

/// The day from this process's environment.
pub fn checked_on_from_env() -> Result<Date, CliError> {
    checked_on(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

/// The name of the copy of the waivers file in an output folder.
pub const COPY: &str = "waivers.toml";

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"# expected failures of product X
[[waiver]]
clause = "UGIA-6"
reason = "specifications desk staffed from Q3"
approver = "A. Seitkali"
expires = 2026-06-30

[[waiver]]
clause = "ugem-12"
obligation = "offender-suspended"
reason = "  suspension ships in 4.2 "
approver = "B. Nurlanuly"
expires = "2025-12-31"
"#;

    #[test]
    fn a_good_file_reads_with_lines_and_ids_as_the_catalogue_spells_them() {
        let ob = Catalogue::standard().get("ugem-12").unwrap().obligations[0]
            .id
            .clone();
        let text = GOOD.replace("offender-suspended", &ob);
        let ws = parse(&text, "w.toml").unwrap();
        assert_eq!(ws.len(), 2);
        assert_eq!(ws[0].clause, "ugia-6");
        assert_eq!(ws[0].at, "w.toml:2");
        assert_eq!(ws[0].expires, qaqpa_sim::jiff::civil::date(2026, 6, 30));
        assert_eq!(ws[1].at, "w.toml:8");
        assert_eq!(ws[1].obligation.as_deref(), Some(ob.as_str()));
        assert_eq!(ws[1].reason, "suspension ships in 4.2");
        assert!(parse("", "empty.toml").unwrap().is_empty());
    }

    fn error(text: &str) -> String {
        let e = parse(text, "w.toml").unwrap_err();
        assert_eq!(e.code, crate::error::BAD_INPUT);
        e.message
    }

    #[test]
    fn bad_files_are_named_with_line_and_field() {
        let e = error(&GOOD.replace("approver = \"A. Seitkali\"", "aprover = \"A\""));
        assert!(e.starts_with("--waivers w.toml:"), "{e}");
        assert!(e.contains("aprover") && e.contains("approver"), "{e}");
        let e = error(&GOOD.replace("clause = \"UGIA-6\"", "clause = \"ugai-6\""));
        assert!(e.starts_with("--waivers w.toml:3:"), "{e}");
        assert!(
            e.contains("`clause`") && e.contains("did you mean `ugia-6`"),
            "{e}"
        );
        let e = error(&GOOD.replace("offender-suspended", "offender-suspend"));
        assert!(e.starts_with("--waivers w.toml:10:"), "{e}");
        assert!(
            e.contains("`obligation`") && e.contains("no obligation of ugem-12"),
            "{e}"
        );
        let e = error(&GOOD.replace("expires = 2026-06-30", "expires = 2026-06-30T10:00:00"));
        assert!(e.contains("w.toml:6:") && e.contains("`expires`"), "{e}");
        let e = error(&GOOD.replace("expires = \"2025-12-31\"", "expires = \"soon\""));
        assert!(
            e.contains("w.toml:13:") && e.contains("`soon` is not a date"),
            "{e}"
        );
        let e = error(&GOOD.replace(
            "reason = \"specifications desk staffed from Q3\"",
            "reason = \" \"",
        ));
        assert!(
            e.contains("w.toml:4:") && e.contains("`reason`: is empty"),
            "{e}"
        );
        let e = error(&GOOD.replace("approver = \"A. Seitkali\"\n", ""));
        assert!(e.contains("approver"), "a missing field is named: {e}");
        let e = error("[[waiver]]\nclause = \"ugia-6\"\n[[waiver]]\nclause = \"ugia-6\"\n");
        assert!(e.contains("approver") || e.contains("reason"), "{e}");
        let e = error(&format!("{GOOD}\n[extra]\nx = 1\n"));
        assert!(e.contains("extra"), "{e}");
    }

    #[test]
    fn two_waivers_over_one_obligation_are_refused() {
        let twice = format!(
            "{GOOD}\n[[waiver]]\nclause = \"ugia-6\"\nreason = \"again\"\napprover = \"C\"\nexpires = 2026-01-01\n"
        );
        let e = error(&twice);
        assert!(e.contains("already waived by the waiver at line 2"), "{e}");
    }

    #[test]
    fn a_clause_no_machine_can_judge_cannot_be_waived() {
        let paper = Catalogue::standard()
            .clauses()
            .iter()
            .find(|c| !c.machine_checkable())
            .unwrap();
        let e = error(&format!(
            "[[waiver]]\nclause = \"{}\"\nreason = \"r\"\napprover = \"a\"\nexpires = 2026-01-01\n",
            paper.id
        ));
        assert!(e.contains("not machine-checkable"), "{e}");
    }

    /// The README's example is a file qaqpa reads.
    #[test]
    fn the_readme_example_reads() {
        let readme = include_str!("../README.md");
        let section = &readme[readme.find("### Waivers").expect("the README has Waivers")..];
        let start = section.find("```toml\n").unwrap() + "```toml\n".len();
        let block = &section[start..start + section[start..].find("```").unwrap()];
        let ws = parse(block, "waivers.toml").unwrap();
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].scope(), "ugem-12/offender-suspended");
        // And the module's own example.
        let doc: String = include_str!("waivers.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start().to_string() + "\n")
            .collect();
        assert_eq!(
            parse(&doc, "doc.toml").unwrap()[0].scope(),
            "ugem-12/offender-suspended"
        );
    }

    #[test]
    fn the_day_comes_from_source_date_epoch_in_almaty() {
        // 2025-03-20 20:00 UTC is already 2025-03-21 in Almaty (UTC+5).
        assert_eq!(
            checked_on(Some("1742500800")).unwrap(),
            qaqpa_sim::jiff::civil::date(2025, 3, 21)
        );
        let e = checked_on(Some("yesterday")).unwrap_err();
        assert!(e.contains("`yesterday`"), "{e}");
        assert!(checked_on(None).is_ok(), "the clock otherwise");
    }
}
