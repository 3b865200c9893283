//! The WAF service's network obligation (ugia-17 `attacks-blocked`), judged by the harness's
//! own HTTP clients and origins: a request is blocked when its client got a refusal (no
//! success) and the origin never received it; passed when the origin received it unchanged
//! and the client got the resource's answer. Only requests sent after the STS's connection
//! notice for the resource are judged: before it nothing is promised.

use jiff::Timestamp;
use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::clock;
use qaqpa_sim::trace::{DocKind, Event, HttpReceived, HttpSent, Observation, Trace};

use super::{Oracle, OracleCtx};

pub struct AttacksBlocked;

/// When each resource (the domain the harness's application named) was connected: the
/// STS's connection notice in the case of a WAF application.
fn connected(trace: &Trace) -> Vec<(String, Timestamp)> {
    super::connected_domains(trace, DocKind::WafApplication)
        .into_iter()
        .map(|(o, _, domain)| (domain, o.at))
        .collect()
}

fn same_request(s: &HttpSent, r: &HttpReceived) -> bool {
    s.resource.eq_ignore_ascii_case(&r.resource)
        && s.method == r.method
        && s.target == r.target
        && s.body == r.body
}

fn evidence(ctx: &OracleCtx<'_>, o: &Observation, s: &HttpSent, text: String) -> Evidence {
    Evidence {
        scenario: ctx.scenario.to_string(),
        at: clock::display(o.at),
        probe: o.probe.clone(),
        subject: format!("{} {} {}", s.resource, s.method, s.label),
        text,
        seq: Some(o.seq),
    }
}

impl Oracle for AttacksBlocked {
    fn clause(&self) -> &'static str {
        "ugia-17"
    }
    fn obligation(&self) -> &'static str {
        "attacks-blocked"
    }
    fn describe(&self) -> &'static str {
        "after the connection notice, every attack the harness sends to the protected resource is refused and never reaches its origin, and every legitimate request reaches the origin unchanged and gets its answer"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let conn = connected(trace);
        let received: Vec<&HttpReceived> = trace
            .observations()
            .iter()
            .filter_map(|o| match &o.event {
                Event::HttpReceived(r) => Some(r),
                _ => None,
            })
            .collect();
        let mut fails = Vec::new();
        let mut passes = Vec::new();
        let mut before = 0usize;
        for o in trace.observations() {
            let Event::HttpSent(s) = &o.event else {
                continue;
            };
            let since = conn
                .iter()
                .filter(|(d, t)| d.eq_ignore_ascii_case(&s.resource) && *t <= o.at)
                .map(|(_, t)| *t)
                .min();
            if since.is_none() {
                before += 1;
                continue;
            }
            let reached = received.iter().any(|r| same_request(s, r));
            let answer = match (s.status, s.error.as_str()) {
                (Some(st), _) => format!("HTTP {st}"),
                (None, e) => format!("no answer ({e})"),
            };
            let success = s.status.is_some_and(|st| st < 400);
            let what = format!("{} {} {}", s.traffic, s.method, s.target);
            match s.traffic.as_str() {
                "attack" if reached || success => fails.push(evidence(
                    ctx,
                    o,
                    s,
                    format!(
                        "{what}: {answer}, {} the origin",
                        if reached {
                            "and it reached"
                        } else {
                            "though it did not reach"
                        }
                    ),
                )),
                "legitimate" if !reached || !success => fails.push(evidence(
                    ctx,
                    o,
                    s,
                    format!(
                        "{what}: {answer}; the origin {}",
                        if reached {
                            "received it"
                        } else {
                            "never received it unchanged"
                        }
                    ),
                )),
                _ => passes.push(evidence(
                    ctx,
                    o,
                    s,
                    format!(
                        "{what}: {answer}; origin {}",
                        if reached {
                            "received it"
                        } else {
                            "never saw it"
                        }
                    ),
                )),
            }
        }
        let attacks = passes
            .iter()
            .chain(&fails)
            .filter(|e| e.text.starts_with("attack"))
            .count();
        if !fails.is_empty() {
            return Judgement {
                verdict: Verdict::Fail,
                finding: format!(
                    "{} of {} requests to protected resources after their connection were not handled as the WAF service requires",
                    fails.len(),
                    fails.len() + passes.len()
                ),
                evidence: fails,
            };
        }
        if passes.is_empty() || attacks == 0 || attacks == passes.len() {
            return Judgement {
                verdict: Verdict::NotTested,
                finding: format!(
                    "the trace holds no attack and legitimate traffic both sent to a resource after its connection notice ({} judged, {before} sent before any notice)",
                    passes.len()
                ),
                evidence: vec![],
            };
        }
        Judgement {
            verdict: Verdict::Pass,
            finding: format!(
                "after the connection notice, {attacks} attacks were refused without reaching the origin and {} legitimate requests reached it and were answered ({before} requests before the notice not judged)",
                passes.len() - attacks
            ),
            evidence: passes.into_iter().take(4).collect(),
        }
    }
}
