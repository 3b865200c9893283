//! The defacement-protection service's network obligation (ugia-18 `page-restored`), judged
//! by what the harness's public was served: after the STS's connection notice, a page the
//! harness's intruder changed on the origin is served defaced for no longer than the
//! detection interval the notice declares plus [`TOLERANCE`] after the change (by the
//! harness's own clock of when it changed it, never the guard's account), comes back to its
//! legitimate content, front page and every other page alike, and the owner's own update
//! (published through its declared channel) is never reverted.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::clock;
use qaqpa_sim::trace::{DocKind, Event, Observation, PageServed, PageWritten, Trace};

use super::{Oracle, OracleCtx};

/// What the harness allows beyond the declared interval: the guard's own round of reading
/// and writing pages, the network's latency and the public's fetch cadence (one second in
/// the suite).
pub const TOLERANCE: SignedDuration = SignedDuration::from_secs(5);
/// The notice field that declares the detection interval, in seconds.
pub const INTERVAL_FIELD: &str = "check-interval-seconds";

pub struct PageRestored;

/// A defacement-protection connection: the domain of the application the harness sent, when
/// the notice arrived, and the interval the notice declares (none when it declares none).
struct Connection {
    domain: String,
    at: Timestamp,
    interval: Option<SignedDuration>,
    notice: u64,
}

fn connections(trace: &Trace) -> Vec<Connection> {
    super::connected_domains(trace, DocKind::DefacementApplication)
        .into_iter()
        .map(|(o, d, domain)| Connection {
            domain,
            at: o.at,
            interval: d
                .fields
                .get(INTERVAL_FIELD)
                .and_then(|v| v.trim().parse::<u32>().ok())
                .map(|s| SignedDuration::from_secs(i64::from(s))),
            notice: o.seq,
        })
        .collect()
}

struct Write<'t> {
    o: &'t Observation,
    w: &'t PageWritten,
}

struct Fetch<'t> {
    o: &'t Observation,
    f: &'t PageServed,
}

fn secs(d: SignedDuration) -> f64 {
    d.as_secs_f64()
}

impl Oracle for PageRestored {
    fn clause(&self) -> &'static str {
        "ugia-18"
    }
    fn obligation(&self) -> &'static str {
        "page-restored"
    }
    fn describe(&self) -> &'static str {
        "after the connection notice, a page the harness changes on the origin directly is served defaced for no longer than the notice's detection interval plus 5 s after the change (the harness's clock), every such page (front page and others) is restored, and the owner's update through its declared channel is never reverted"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let conn = connections(trace);
        // Per page (domain, path): what the harness wrote and what the public was served.
        let mut writes: BTreeMap<(String, String), Vec<Write<'_>>> = BTreeMap::new();
        let mut fetches: BTreeMap<(String, String), Vec<Fetch<'_>>> = BTreeMap::new();
        for o in trace.observations() {
            match &o.event {
                Event::PageWritten(w) => writes
                    .entry((w.resource.to_ascii_lowercase(), w.page.clone()))
                    .or_default()
                    .push(Write { o, w }),
                Event::PageServed(f) => fetches
                    .entry((f.resource.to_ascii_lowercase(), f.page.clone()))
                    .or_default()
                    .push(Fetch { o, f }),
                _ => {}
            }
        }
        let ev = |o: &Observation, page: &(String, String), text: String| Evidence {
            scenario: ctx.scenario.to_string(),
            at: clock::display(o.at),
            probe: o.probe.clone(),
            subject: format!("{}{}", page.0, page.1),
            text,
            seq: Some(o.seq),
        };
        let mut fails = Vec::new();
        let mut passes = Vec::new();
        let mut unjudged = Vec::new();
        let mut figures: Vec<String> = Vec::new();
        let no_fetches = Vec::new();
        for (page, ws) in &writes {
            let fs = fetches.get(page).unwrap_or(&no_fetches);
            let mut defaced_secs = 0.0f64;
            let mut judged_here = false;
            for (i, cur) in ws.iter().enumerate() {
                if cur.w.by == "initial" {
                    continue;
                }
                // Only changes after the resource's connection notice are judged.
                let Some(c) = conn
                    .iter()
                    .filter(|c| c.domain == page.0 && c.at <= cur.o.at)
                    .min_by_key(|c| c.at)
                else {
                    continue;
                };
                let next = ws.get(i + 1).map(|n| n.o.at);
                let in_window =
                    |f: &&Fetch<'_>| f.f.sent >= cur.o.at && next.is_none_or(|n| f.f.sent < n);
                let legit_before = ws[..i]
                    .iter()
                    .rev()
                    .find(|p| p.w.by != "intruder")
                    .map(|p| p.w.digest.as_str());
                let older_legit: Vec<&str> = ws[..i]
                    .iter()
                    .filter(|p| p.w.by != "intruder" && p.w.digest != cur.w.digest)
                    .map(|p| p.w.digest.as_str())
                    .collect();
                if cur.w.by == "owner" {
                    // The owner's update must stay: nothing older and legitimate comes back.
                    let reverted: Vec<&Fetch<'_>> = fs
                        .iter()
                        .filter(in_window)
                        .filter(|f| older_legit.contains(&f.f.digest.as_str()))
                        .collect();
                    let served = fs.iter().filter(in_window).count();
                    if let Some(first) = reverted.first() {
                        fails.push(ev(
                            first.o,
                            page,
                            format!(
                                "the owner's update published at {} was reverted: the earlier content was served {:.1} s later ({} of {} fetches after it)",
                                clock::display(cur.o.at),
                                secs(first.o.at.duration_since(cur.o.at)),
                                reverted.len(),
                                served
                            ),
                        ));
                    } else if served > 0 {
                        judged_here = true;
                        passes.push(ev(
                            cur.o,
                            page,
                            format!(
                                "the owner's update stayed: {served} fetches after it served it"
                            ),
                        ));
                    }
                    continue;
                }
                // An intruder's change.
                let Some(interval) = c.interval else {
                    fails.push(ev(
                        cur.o,
                        page,
                        format!(
                            "the connection notice (seq {}) declares no detection interval (`{INTERVAL_FIELD}`), so the defacement at {} has no bound it is held to",
                            c.notice,
                            clock::display(cur.o.at)
                        ),
                    ));
                    continue;
                };
                let deadline = cur.o.at + interval + TOLERANCE;
                let window: Vec<&Fetch<'_>> = fs.iter().filter(in_window).collect();
                let defaced: Vec<&&Fetch<'_>> = window
                    .iter()
                    .filter(|f| f.f.digest == cur.w.digest)
                    .collect();
                let last_defaced = defaced.last().map(|f| f.o.at);
                let served_for = last_defaced
                    .map(|t| secs(t.duration_since(cur.o.at)))
                    .unwrap_or(0.0);
                defaced_secs += served_for;
                let restored = window.iter().find(|f| {
                    Some(f.f.digest.as_str()) == legit_before
                        && last_defaced.is_none_or(|t| f.o.at > t)
                });
                let late: Vec<&&&Fetch<'_>> =
                    defaced.iter().filter(|f| f.o.at > deadline).collect();
                if let Some(first_late) = late.first() {
                    fails.push(ev(
                        first_late.o,
                        page,
                        format!(
                            "defaced content (changed at {}) was still served {:.1} s after the change, beyond the declared interval of {} s plus {} s{}",
                            clock::display(cur.o.at),
                            secs(first_late.o.at.duration_since(cur.o.at)),
                            interval.as_secs(),
                            TOLERANCE.as_secs(),
                            if restored.is_some() {
                                "".to_string()
                            } else {
                                format!(
                                    "; never restored while the public watched ({} fetches served it)",
                                    defaced.len()
                                )
                            }
                        ),
                    ));
                    continue;
                }
                match restored {
                    Some(r) => {
                        judged_here = true;
                        passes.push(ev(
                            r.o,
                            page,
                            format!(
                                "changed at {}, defaced content served for {:.1} s, restored by {} (interval {} s + {} s)",
                                clock::display(cur.o.at),
                                served_for,
                                clock::display(r.o.at),
                                interval.as_secs(),
                                TOLERANCE.as_secs()
                            ),
                        ))
                    }
                    None => {
                        let watched_past = window.iter().any(|f| f.o.at > deadline);
                        if watched_past {
                            let older = window.iter().any(|f| {
                                older_legit.contains(&f.f.digest.as_str())
                                    && Some(f.f.digest.as_str()) != legit_before
                            });
                            fails.push(ev(
                                cur.o,
                                page,
                                format!(
                                    "changed at {}: the current legitimate content was never served again while the public watched{}",
                                    clock::display(cur.o.at),
                                    if older {
                                        " (content older than the owner's last update came back instead)"
                                    } else {
                                        ""
                                    }
                                ),
                            ));
                        } else {
                            unjudged.push(format!(
                                "{}{} changed at {}: the public stopped watching before the deadline",
                                page.0,
                                page.1,
                                clock::display(cur.o.at)
                            ));
                        }
                    }
                }
            }
            if judged_here && ws.iter().any(|w| w.w.by == "intruder") {
                figures.push(format!("{}{} {:.1} s", page.0, page.1, defaced_secs));
            }
        }
        if !fails.is_empty() {
            fails.sort_by_key(|e| e.seq);
            let n = fails.len();
            return Judgement {
                verdict: Verdict::Fail,
                finding: format!(
                    "{n} page change(s) after the connection notice were not handled as defacement protection requires"
                ),
                evidence: fails,
            };
        }
        let restored = passes
            .iter()
            .filter(|e| e.text.starts_with("changed at"))
            .count();
        if restored == 0 {
            return Judgement {
                verdict: Verdict::NotTested,
                finding: if unjudged.is_empty() {
                    "the trace holds no intruder's change to a protected page after its connection notice, watched by the public".into()
                } else {
                    unjudged.join("; ")
                },
                evidence: vec![],
            };
        }
        let mut finding = format!(
            "{restored} defaced page change(s) after the connection notice were restored within the declared interval plus {} s; defaced content served: {}",
            TOLERANCE.as_secs(),
            figures.join(", ")
        );
        let owner = passes.len() - restored;
        if owner > 0 {
            finding.push_str(&format!("; {owner} owner's update(s) stayed"));
        }
        if !unjudged.is_empty() {
            finding.push_str(&format!(" (not judged: {})", unjudged.join("; ")));
        }
        passes.sort_by_key(|e| e.seq);
        Judgement {
            verdict: Verdict::Pass,
            finding,
            evidence: passes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qaqpa_sim::trace::{Channel, Document, Subject, SubjectKind};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_780_000_000 + s).unwrap()
    }

    /// A trace: the application and notice, then the writes and fetches given as
    /// (second, by, content) and (second, content).
    fn trace(writes: &[(i64, &str, &str)], fetches: &[(i64, &str)], interval: &str) -> Trace {
        let mut tr = Trace::default();
        let app = Document {
            case: "C1".into(),
            doc: DocKind::DefacementApplication,
            from: "akimat".into(),
            to: "STS".into(),
            channel: Channel::Aps,
            fields: [("domain".to_string(), "site.kz".to_string())].into(),
            reasons: vec![],
        };
        let mut notice = app.answer(
            DocKind::ConnectionNotice,
            Channel::Aps,
            // The notice names another domain: the oracle must take the application's.
            [("domain".to_string(), "other.kz".to_string())].into(),
            vec![],
        );
        if !interval.is_empty() {
            notice
                .fields
                .insert(INTERVAL_FIELD.into(), interval.to_string());
        }
        let mut all: Vec<(i64, Event)> =
            vec![(-300, Event::Document(app)), (-50, Event::Document(notice))];
        let svc = || Subject {
            kind: SubjectKind::Service,
            id: "site.kz".into(),
        };
        for (s, by, content) in writes {
            all.push((
                *s,
                Event::PageWritten(PageWritten {
                    resource: "site.kz".into(),
                    page: "/index.html".into(),
                    by: by.to_string(),
                    digest: content.to_string(),
                }),
            ));
        }
        for (s, content) in fetches {
            all.push((
                *s,
                Event::PageServed(PageServed {
                    resource: "site.kz".into(),
                    page: "/index.html".into(),
                    sent: t(*s),
                    status: Some(200),
                    digest: content.to_string(),
                    error: String::new(),
                }),
            ));
        }
        all.sort_by_key(|(s, _)| *s);
        for (s, e) in all {
            let subject = match &e {
                Event::Document(_) => Subject::case("C1"),
                _ => svc(),
            };
            tr.record(t(s), "probe", subject, e);
        }
        tr
    }

    fn judge(tr: &Trace) -> Judgement {
        let cal = qaqpa_sim::calendar::BusinessCalendar::kazakhstan();
        let ctx = OracleCtx {
            calendar: &cal,
            scenario: "s",
            end: t(10_000),
        };
        PageRestored.judge(&ctx, tr)
    }

    #[test]
    fn restored_within_the_interval_passes_and_late_or_never_fails() {
        let writes = [(0, "initial", "good"), (10, "intruder", "bad")];
        let ok: Vec<(i64, &str)> = (0..60)
            .map(|s| (s, if (10..40).contains(&s) { "bad" } else { "good" }))
            .collect();
        let j = judge(&trace(&writes, &ok, "30"));
        assert_eq!(j.verdict, Verdict::Pass, "{}", j.finding);
        assert!(
            j.finding.contains("site.kz/index.html 29.0 s"),
            "{}",
            j.finding
        );
        // Served defaced 36 s after the change, beyond 30 + 5.
        let late: Vec<(i64, &str)> = (0..60)
            .map(|s| {
                (
                    s,
                    if (10..=46).contains(&s) {
                        "bad"
                    } else {
                        "good"
                    },
                )
            })
            .collect();
        assert_eq!(judge(&trace(&writes, &late, "30")).verdict, Verdict::Fail);
        let never: Vec<(i64, &str)> = (0..60)
            .map(|s| (s, if s >= 10 { "bad" } else { "good" }))
            .collect();
        assert_eq!(judge(&trace(&writes, &never, "30")).verdict, Verdict::Fail);
        // Within a longer declared interval the same late case passes: the bound is the
        // notice's.
        assert_eq!(judge(&trace(&writes, &late, "60")).verdict, Verdict::Pass);
        // No declared interval: nothing to hold the guard to, which fails.
        assert_eq!(judge(&trace(&writes, &ok, "")).verdict, Verdict::Fail);
    }

    #[test]
    fn a_reverted_owner_update_fails_and_a_kept_one_does_not() {
        let writes = [(0, "initial", "v1"), (10, "owner", "v2")];
        let kept: Vec<(i64, &str)> = (0..60)
            .map(|s| (s, if s >= 10 { "v2" } else { "v1" }))
            .collect();
        let j = judge(&trace(&writes, &kept, "30"));
        // An owner's update alone judges no defacement.
        assert_eq!(j.verdict, Verdict::NotTested, "{}", j.finding);
        let reverted: Vec<(i64, &str)> = (0..60)
            .map(|s| (s, if (10..30).contains(&s) { "v2" } else { "v1" }))
            .collect();
        assert_eq!(
            judge(&trace(&writes, &reverted, "30")).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn changes_before_the_notice_are_not_judged() {
        let writes = [(-200, "initial", "good"), (-90, "intruder", "bad")];
        let never: Vec<(i64, &str)> = (-200..60)
            .map(|s| (s, if s >= -90 { "bad" } else { "good" }))
            .collect();
        assert_eq!(
            judge(&trace(&writes, &never, "30")).verdict,
            Verdict::NotTested
        );
    }
}
