//! The HTML report: one self-contained page a regulator reads in a browser, offline.
//!
//! Order of the page: the run (outcome, tool commit, run date, seed, target), the waivers
//! when the report was judged with some (each with its status), a per-system
//! summary (a matrix of clauses by verdict, and a strip of one square per clause, as the
//! overview pages of conformance suites show), then every clause (failing and warning ones
//! first, the rest in catalogue order) with its legal reference, obligations, scenarios,
//! evidence in time order and timelines, then the scenarios and the documents cited.
//!
//! The filter by verdict and system is a few lines of inline script over `data-` attributes;
//! without script every clause is simply listed. No external resources.

use std::fmt::Write as _;

use qaqpa_sim::jiff::Timestamp;

use super::timeline::{self, Mark};
use super::{Provenance, esc, target_line};
use crate::catalogue::{Catalogue, Clause, System};
use crate::report::{ClauseResult, Report};
use crate::verdict::{Evidence, Verdict};
use crate::waiver::WaiverStatus;

/// Verdicts in the order a reader needs them: what is wrong first.
pub(super) const VERDICT_ORDER: [Verdict; 7] = [
    Verdict::Fail,
    Verdict::Warning,
    Verdict::Waived,
    Verdict::NotTested,
    Verdict::Pass,
    Verdict::NotMachineCheckable,
    Verdict::NotApplicable,
];

/// What each verdict means, for the legend and the filter's tooltips.
pub(super) fn meaning(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "every machine-checkable obligation was judged and passed",
        Verdict::Fail => "an obligation was judged and failed",
        Verdict::Warning => "met only on the lenient reading of an unclear rule",
        Verdict::Waived => {
            "an obligation failed, and a signed-off waiver in force covers the failure"
        }
        Verdict::NotApplicable => "binds a system this run does not certify",
        Verdict::NotTested => "checkable, but not every obligation was judged in this run",
        Verdict::NotMachineCheckable => "paper, seals, cabling: for the auditor to check by hand",
    }
}

const STYLE: &str = r#"
:root{--fg:#1d2329;--muted:#57606a;--line:#d0d7de;--head:#f3f5f7}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:78em;color:var(--fg);padding:1em 1.2em 3em}
h1{font-size:1.6em;margin:.2em 0 .4em}h2{margin-top:1.6em;border-bottom:1px solid var(--line);padding-bottom:.2em}
h3{font-size:1.05em;margin:0}
table{border-collapse:collapse;width:100%;margin:.5em 0 1em}
th,td{border:1px solid var(--line);padding:.3em .5em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:var(--head)}
table.run{width:auto;max-width:100%}table.run th{white-space:nowrap}
nav a{margin-right:1em}
.v{font-weight:600;white-space:nowrap;border-radius:3px;padding:.05em .4em;text-decoration:none}
.pass{background:#d8f5dd;color:#135c22}.fail{background:#fde0e0;color:#8a1111}.warning{background:#fff1c7;color:#6b4b00}
.waived{background:#dbe9fb;color:#0d3d78;outline:1px dashed #0d3d78}
.not-tested{background:#e8eaee;color:#3b4450}.not-applicable{background:#f4f5f7;color:#5b6470}.not-machine-checkable{background:#ece6f7;color:#4a2f80}
.outcome{font-size:1.15em;font-weight:600;padding:.4em .7em;border-radius:4px;display:inline-block}
table.matrix td,table.matrix th{text-align:center}table.matrix th:first-child{text-align:left}
table.matrix td a{display:block;text-decoration:none;color:inherit}
table.matrix td.zero{color:#9aa4ae}
.strip{display:flex;flex-wrap:wrap;gap:3px;margin:.2em 0 .8em}
.strip a{width:14px;height:14px;border-radius:2px;display:block;border:1px solid rgba(0,0,0,.15)}
.strip-row{display:grid;grid-template-columns:6em 1fr;align-items:start;gap:.5em}
.legend{color:var(--muted);font-size:.92em}
.legend span.v{margin-right:.3em}
form.filter{position:sticky;top:0;background:#fff;border:1px solid var(--line);border-radius:4px;padding:.4em .7em;margin:.5em 0 1em;z-index:1}
form.filter fieldset{border:0;display:inline-block;margin:0 1.2em 0 0;padding:0}
form.filter legend{font-weight:600;padding:0;margin-right:.4em;float:left}
form.filter label{margin-right:.6em;white-space:nowrap}
article.clause{border:1px solid var(--line);border-left-width:6px;border-radius:4px;padding:.5em .8em;margin:.6em 0}
article.clause.is-fail{border-left-color:#c62828}article.clause.is-warning{border-left-color:#d4a017}article.clause.is-pass{border-left-color:#2e7d32}
article.clause.is-waived{border-left-color:#1f5fa8;border-left-style:double}
article.clause.is-not-tested{border-left-color:#8c959f}article.clause.is-not-applicable{border-left-color:#d0d7de}article.clause.is-not-machine-checkable{border-left-color:#7e57c2}
.cite{color:var(--muted);margin:.2em 0}
.meta{color:var(--muted);font-size:.92em}
table.obligations{font-size:.95em;table-layout:fixed}
table.obligations col.o-id{width:19%}table.obligations col.o-kind{width:8%}table.obligations col.o-text{width:25%}table.obligations col.o-v{width:8.5em}
table.matrix th,table.matrix td{overflow-wrap:normal}
.scroll{overflow-x:auto}
table.evidence{font-size:.92em}table.evidence td:first-child{white-space:nowrap}
table.scenarios{table-layout:fixed}
table.scenarios col.c-id{width:36%}table.scenarios col.c-sys{width:8%}table.scenarios col.c-cl{width:25%}table.scenarios col.c-obs{width:13%}table.scenarios col.c-tr{width:18%}
details{margin:.3em 0}summary{cursor:pointer;color:#0b5cad}
blockquote{margin:.3em 0 .6em 1em;color:#3b4450;white-space:pre-line}
.unofficial{font-size:.9em;color:#6b4b00;background:#fff8e1;padding:.1em .4em;border-radius:3px}
svg.timeline{max-width:100%;height:auto;display:block;margin:.4em 0}
svg text{font:11px system-ui,sans-serif;fill:#1d2329}svg text.num{font-size:9px;fill:#57606a}
svg .observed{fill:#1f5fa8}svg .computed{fill:#c62828}
code{font-size:.92em}
.waiver{font-size:.92em;background:#eef4fc;border-left:3px double #1f5fa8;padding:.2em .5em;margin:.3em 0 0}
.waiver.expired{background:#fde0e0;border-left-color:#c62828}
table.waivers td.status{white-space:nowrap}
[hidden]{display:none!important}
@media print{form.filter{display:none}details{display:block}}
"#;

/// Shows only the clauses whose verdict and systems are ticked; the matrix's cells set the
/// filter to their row and column, and a link can carry a filter
/// (`report.html#filter:verdict=fail,warning;system=ugia`). Plain DOM, no library.
const SCRIPT: &str = r#"
(function(){
var f=document.getElementById('filter');if(!f)return;f.hidden=false;
var arts=document.querySelectorAll('article.clause');
function ticked(n){return Array.prototype.filter.call(f.querySelectorAll('input[name='+n+']'),function(i){return i.checked}).map(function(i){return i.value})}
function apply(){var vs=ticked('verdict'),ss=ticked('system'),n=0;
Array.prototype.forEach.call(arts,function(a){var ok=vs.indexOf(a.getAttribute('data-verdict'))>=0&&a.getAttribute('data-systems').split(' ').some(function(s){return ss.indexOf(s)>=0});a.hidden=!ok;if(ok)n++});
document.getElementById('shown').textContent=n+' of '+arts.length+' clauses shown'}
f.addEventListener('change',apply);
document.getElementById('show-all').addEventListener('click',function(){Array.prototype.forEach.call(f.querySelectorAll('input'),function(i){i.checked=true});apply()});
Array.prototype.forEach.call(document.querySelectorAll('[data-filter-verdict]'),function(a){a.addEventListener('click',function(){
var v=a.getAttribute('data-filter-verdict'),s=a.getAttribute('data-filter-system');
Array.prototype.forEach.call(f.querySelectorAll('input[name=verdict]'),function(i){i.checked=(v==='*'||i.value===v)});
Array.prototype.forEach.call(f.querySelectorAll('input[name=system]'),function(i){i.checked=(s==='*'||i.value===s)});apply()})});
// A view can be shared as a link: report.html#filter:verdict=fail,warning;system=ugia
var h=decodeURIComponent(location.hash);
if(h.indexOf('#filter:')===0){h.slice(8).split(';').forEach(function(part){var kv=part.split('=');if(kv.length!==2)return;var want=kv[1].split(',');
Array.prototype.forEach.call(f.querySelectorAll('input[name='+kv[0]+']'),function(i){i.checked=want.indexOf(i.value)>=0})})}
apply()})();
"#;

fn system_name(s: System) -> &'static str {
    match s {
        System::Ugia => "UGIA: Unified Internet Access Gateway",
        System::Ugem => "UGEM: Unified E-mail Gateway",
        System::Bus => "Bus: e-government integration bus (ЭҮШ/ЭҮСШ)",
    }
}

fn badge(v: Verdict) -> String {
    format!(
        "<span class=\"v {v}\" title=\"{}\">{v}</span>",
        esc(meaning(v))
    )
}

fn clause_anchor(id: &str) -> String {
    format!("clause-{id}")
}

fn scenario_anchor(id: &str) -> String {
    format!("scenario-{id}")
}

/// The whole page.
pub fn page(report: &Report, catalogue: &Catalogue, provenance: &Provenance) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>qaqpa conformance report — {} — seed {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(report.outcome.as_str()),
        report.seed
    );
    run_header(&mut o, report, provenance);
    waivers(&mut o, report);
    summary(&mut o, report);
    clauses(&mut o, report, catalogue);
    scenarios(&mut o, report);
    documents(&mut o, report, catalogue);
    let _ = write!(o, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    o
}

fn run_header(o: &mut String, report: &Report, provenance: &Provenance) {
    let outcome = report.outcome.as_str();
    let class = match outcome {
        "fail" => "fail",
        "pass-with-warnings" => "warning",
        "pass-with-waivers" => "waived",
        "pass" => "pass",
        _ => "not-tested",
    };
    let _ = writeln!(o, "<header>\n<h1>qaqpa conformance report</h1>");
    let _ = writeln!(
        o,
        "<p class=\"outcome {class}\" id=\"outcome\">Outcome: {}</p>",
        esc(&super::outcome_sentence(report))
    );
    let _ = writeln!(o, "<table class=\"run\"><tbody>");
    let rows = [
        ("target", target_line(report)),
        ("systems certified", report.systems.join(", ")),
        ("run date", provenance.run_date.clone()),
        ("qaqpa commit", provenance.commit.clone()),
        ("suite version", report.suite_version.clone()),
        ("seed", report.seed.to_string()),
        ("business calendar", report.calendar.describe()),
        ("scenarios", report.scenarios.len().to_string()),
        (
            "waivers",
            match &report.waivers {
                None => "none".to_string(),
                Some(w) => format!(
                    "{} from {}, expiry checked on {}",
                    w.waivers.len(),
                    w.file,
                    w.checked_on
                ),
            },
        ),
        (
            "report schema",
            format!("version {}", report.schema_version),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    let _ = writeln!(o, "</tbody></table>");
    let waivers_link = if report.waivers.is_some() {
        "<a href=\"#waivers\">Waivers</a>"
    } else {
        ""
    };
    let _ = writeln!(
        o,
        "<nav>{waivers_link}<a href=\"#summary\">Summary</a><a href=\"#clauses\">Clauses</a><a href=\"#scenarios\">Scenarios</a><a href=\"#documents\">Documents cited</a></nav>\n</header>"
    );
}

/// Every waiver the report was judged with, with what became of it; stale and expired ones
/// are coloured as the warning and the failure they are.
fn waivers(o: &mut String, report: &Report) {
    let Some(section) = &report.waivers else {
        return;
    };
    let _ = writeln!(
        o,
        "<section id=\"waivers\">\n<h2>Waivers</h2>\n<p class=\"legend\">From <code>{}</code>; a waiver holds through its expiry day, checked against {} (Asia/Almaty). <b>applied</b>: it waives the failures listed. <b>expired</b>: the failure stands. <b>stale</b>: what it covers no longer fails; remove it (a warning). <b>not-judged</b>: nothing it covers was judged in this run.</p>",
        esc(&section.file),
        section.checked_on
    );
    let _ = writeln!(
        o,
        "<div class=\"scroll\"><table class=\"waivers\">\n<thead><tr><th>scope</th><th>status</th><th>approver</th><th>expires</th><th>reason</th><th>what became of it</th><th>written at</th></tr></thead>\n<tbody>"
    );
    for w in &section.waivers {
        let class = match w.status {
            WaiverStatus::Applied => "waived",
            WaiverStatus::Expired => "fail",
            WaiverStatus::Stale => "warning",
            WaiverStatus::NotJudged => "not-tested",
        };
        let scope = match &w.waiver.obligation {
            Some(_) => format!(
                "<a href=\"#{}\"><code>{}</code></a>",
                esc(&clause_anchor(&w.waiver.clause)),
                esc(&w.waiver.scope())
            ),
            None => format!(
                "<a href=\"#{}\"><code>{}</code></a> (every obligation)",
                esc(&clause_anchor(&w.waiver.clause)),
                esc(&w.waiver.clause)
            ),
        };
        let _ = writeln!(
            o,
            "<tr><td>{scope}</td><td class=\"status\"><span class=\"v {class}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            w.status,
            esc(&w.waiver.approver),
            w.waiver.expires,
            esc(&w.waiver.reason),
            esc(&w.finding),
            esc(&w.waiver.at)
        );
    }
    let _ = writeln!(o, "</tbody>\n</table></div>\n</section>");
}

/// The systems a report lists, in catalogue order: every system some clause binds.
fn systems_of(report: &Report) -> Vec<System> {
    System::ALL
        .into_iter()
        .filter(|s| report.clauses.iter().any(|c| binds(c, *s)))
        .collect()
}

fn binds(c: &ClauseResult, s: System) -> bool {
    c.systems.iter().any(|x| x == s.as_str())
}

fn summary(o: &mut String, report: &Report) {
    let systems = systems_of(report);
    let _ = writeln!(
        o,
        "<section id=\"summary\">\n<h2>Summary by system</h2>\n<p class=\"legend\">Clauses by verdict for each system (a clause binding two systems counts in both rows). Click a number to list those clauses below.</p>"
    );
    let _ = write!(
        o,
        "<div class=\"scroll\"><table class=\"matrix\">\n<thead><tr><th>system</th>"
    );
    for v in VERDICT_ORDER {
        let _ = write!(o, "<th>{}</th>", badge(v));
    }
    let _ = writeln!(o, "<th>clauses</th></tr></thead>\n<tbody>");
    let row = |o: &mut String, label: &str, key: &str, clauses: &[&ClauseResult]| {
        let _ = write!(o, "<tr><th>{}</th>", esc(label));
        for v in VERDICT_ORDER {
            let n = clauses.iter().filter(|c| c.verdict == v).count();
            if n == 0 {
                let _ = write!(o, "<td class=\"zero\">0</td>");
            } else {
                let _ = write!(
                    o,
                    "<td class=\"{v}\"><a href=\"#clauses\" data-filter-verdict=\"{v}\" data-filter-system=\"{key}\">{n}</a></td>"
                );
            }
        }
        let _ = writeln!(
            o,
            "<td><a href=\"#clauses\" data-filter-verdict=\"*\" data-filter-system=\"{key}\">{}</a></td></tr>",
            clauses.len()
        );
    };
    for s in &systems {
        let cs: Vec<&ClauseResult> = report.clauses.iter().filter(|c| binds(c, *s)).collect();
        row(o, system_name(*s), s.as_str(), &cs);
    }
    let all: Vec<&ClauseResult> = report.clauses.iter().collect();
    row(o, "all clauses", "*", &all);
    let _ = writeln!(o, "</tbody>\n</table></div>");

    // One square per clause, in catalogue order, coloured by verdict: the shape of the run
    // at a glance, each square a link to its clause.
    let _ = writeln!(o, "<div class=\"strips\">");
    for s in &systems {
        let _ = write!(
            o,
            "<div class=\"strip-row\"><b>{}</b><div class=\"strip\" aria-label=\"clauses of {}\">",
            s.as_str(),
            s.as_str()
        );
        for c in report.clauses.iter().filter(|c| binds(c, *s)) {
            let _ = write!(
                o,
                "<a class=\"{v}\" href=\"#{a}\" title=\"{id}: {v}\" aria-label=\"{id}: {v}\"></a>",
                v = c.verdict,
                a = esc(&clause_anchor(&c.id)),
                id = esc(&c.id)
            );
        }
        let _ = writeln!(o, "</div></div>");
    }
    let _ = writeln!(o, "</div>");
    let _ = write!(o, "<p class=\"legend\">");
    for v in VERDICT_ORDER {
        let _ = write!(o, "{} {}. ", badge(v), esc(meaning(v)));
    }
    let _ = writeln!(o, "</p>\n</section>");
}

/// Clauses in reading order: failing, then warning, then waived, then the rest, each group
/// in catalogue order.
pub(super) fn reading_order(report: &Report) -> Vec<&ClauseResult> {
    let rank = |v: Verdict| match v {
        Verdict::Fail => 0,
        Verdict::Warning => 1,
        Verdict::Waived => 2,
        _ => 3,
    };
    let mut cs: Vec<&ClauseResult> = report.clauses.iter().collect();
    cs.sort_by_key(|c| rank(c.verdict));
    cs
}

fn clauses(o: &mut String, report: &Report, catalogue: &Catalogue) {
    let _ = writeln!(
        o,
        "<section id=\"clauses\">\n<h2>Clauses</h2>\n<p class=\"legend\">Every clause of the catalogue: failing and warning clauses first, then the rest in the order of the documents.</p>"
    );
    filter_form(o, report);
    let _ = writeln!(
        o,
        "<noscript><p class=\"legend\">The filter needs JavaScript; every clause is listed.</p></noscript>"
    );
    for c in reading_order(report) {
        clause(o, c, catalogue);
    }
    let _ = writeln!(o, "</section>");
}

fn filter_form(o: &mut String, report: &Report) {
    let _ = write!(
        o,
        "<form id=\"filter\" class=\"filter\" hidden>\n<fieldset><legend>Verdict</legend>"
    );
    for v in VERDICT_ORDER {
        let n = report.clauses.iter().filter(|c| c.verdict == v).count();
        let _ = write!(
            o,
            "<label title=\"{}\"><input type=\"checkbox\" name=\"verdict\" value=\"{v}\" checked> {v} ({n})</label>",
            esc(meaning(v))
        );
    }
    let _ = write!(o, "</fieldset>\n<fieldset><legend>System</legend>");
    for s in systems_of(report) {
        let _ = write!(
            o,
            "<label><input type=\"checkbox\" name=\"system\" value=\"{s}\" checked> {s}</label>",
            s = s.as_str()
        );
    }
    let _ = writeln!(
        o,
        "</fieldset>\n<button type=\"button\" id=\"show-all\">show all</button> <output id=\"shown\"></output>\n</form>"
    );
}

/// The text blocks of a clause: the Kazakh quote, then English marked for what it is.
fn texts(o: &mut String, clause: &Clause, catalogue: &Catalogue) {
    let seed = catalogue
        .document(&clause.document)
        .map(|d| d.seed_file.as_str())
        .unwrap_or("");
    let _ = write!(
        o,
        "<details><summary>Text of the clause</summary><p class=\"meta\">Kazakh, quoted verbatim from the seed text <code>{}</code>:</p><blockquote lang=\"kk\">{}</blockquote>",
        esc(seed),
        esc(clause.text_kk.trim_start_matches('\n'))
    );
    if let Some(en) = &clause.text_en {
        let _ = write!(
            o,
            "<p class=\"meta\">English: <span class=\"unofficial\">unofficial translation</span> published with the order (quoted from the same seed file):</p><blockquote lang=\"en\">{}</blockquote>",
            esc(en.trim_start_matches('\n'))
        );
    }
    if let Some(en) = &clause.text_en_ours {
        let _ = write!(
            o,
            "<p class=\"meta\">English: <span class=\"unofficial\">unofficial translation by the qaqpa project</span>; no official English text exists. The Kazakh text is authoritative.</p><blockquote lang=\"en\">{}</blockquote>",
            esc(en.trim_start_matches('\n'))
        );
    }
    let _ = write!(o, "</details>");
}

fn clause(o: &mut String, c: &ClauseResult, catalogue: &Catalogue) {
    let entry = catalogue.get(&c.id);
    let _ = writeln!(
        o,
        "<article class=\"clause is-{v}\" id=\"{a}\" data-verdict=\"{v}\" data-systems=\"{sys}\">",
        v = c.verdict,
        a = esc(&clause_anchor(&c.id)),
        sys = esc(&c.systems.join(" "))
    );
    let _ = writeln!(
        o,
        "<h3><a href=\"#{a}\">{id}</a> {b} <span class=\"meta\">{sys} · {kinds}</span></h3>",
        a = esc(&clause_anchor(&c.id)),
        id = esc(&c.id),
        b = badge(c.verdict),
        sys = esc(&c.systems.join(", ")),
        kinds = esc(&c.kinds.join(", "))
    );
    if let Some(cl) = entry {
        let _ = writeln!(
            o,
            "<p class=\"cite\">{}</p>",
            esc(&catalogue.citation(cl).to_string())
        );
    }
    let _ = writeln!(o, "<p>{}</p>", esc(&c.summary));
    let _ = writeln!(o, "<p><b>Finding:</b> {}</p>", esc(&c.finding));

    if !c.obligations.is_empty() {
        let judged = c
            .obligations
            .iter()
            .filter(|ob| ob.verdict.judged())
            .count();
        let _ = writeln!(
            o,
            "<table class=\"obligations\"><caption class=\"meta\" style=\"text-align:left\">Obligations: {judged} of {} judged</caption>\n<colgroup><col class=\"o-id\"><col class=\"o-kind\"><col class=\"o-text\"><col class=\"o-v\"><col></colgroup>\n<thead><tr><th>obligation</th><th>kind</th><th>what must hold</th><th>verdict</th><th>finding</th></tr></thead><tbody>",
            c.obligations.len()
        );
        for ob in &c.obligations {
            let waiver = match &ob.waiver {
                None => String::new(),
                Some(w) if w.expired => format!(
                    "<p class=\"waiver expired\"><b>Waiver expired</b> on {} (approved by {}; <code>{}</code>): {}. The failure stands.</p>",
                    w.expires,
                    esc(&w.approver),
                    esc(&w.at),
                    esc(&w.reason)
                ),
                Some(w) => format!(
                    "<p class=\"waiver\"><b>Waived</b> until {} by {} (<code>{}</code>): {}</p>",
                    w.expires,
                    esc(&w.approver),
                    esc(&w.at),
                    esc(&w.reason)
                ),
            };
            let _ = writeln!(
                o,
                "<tr><td><code>{}/{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}{waiver}</td></tr>",
                esc(&c.id),
                esc(&ob.id),
                esc(&ob.kind),
                esc(&ob.text),
                badge(ob.verdict),
                esc(&ob.finding)
            );
        }
        let _ = writeln!(o, "</tbody></table>");
    }

    if !c.scenarios.is_empty() {
        let _ = write!(o, "<p class=\"meta\">Scenarios: ");
        for (i, s) in c.scenarios.iter().enumerate() {
            if i > 0 {
                o.push_str(", ");
            }
            let _ = write!(
                o,
                "<a href=\"#{a}\">{s}</a> (<a href=\"traces/{s}.jsonl\">trace</a>)",
                a = esc(&scenario_anchor(s)),
                s = esc(s)
            );
        }
        let _ = writeln!(o, "</p>");
    }

    evidence(o, c);
    if let Some(cl) = entry {
        texts(o, cl, catalogue);
    }
    let _ = writeln!(o, "</article>");
}

/// A clause's evidence, the clause's own and its obligations', each piece once, in time order
/// (ties keep the order the oracles gave).
fn collect_evidence(c: &ClauseResult) -> Vec<(Timestamp, &Evidence)> {
    let mut all: Vec<&Evidence> = Vec::new();
    for e in c
        .evidence
        .iter()
        .chain(c.obligations.iter().flat_map(|ob| ob.evidence.iter()))
    {
        if !all.contains(&e) {
            all.push(e);
        }
    }
    let mut timed: Vec<(Timestamp, &Evidence)> = all
        .into_iter()
        .map(|e| (e.at.parse::<Timestamp>().unwrap_or(Timestamp::MIN), e))
        .collect();
    timed.sort_by_key(|(t, _)| *t);
    timed
}

fn evidence(o: &mut String, c: &ClauseResult) {
    let timed = collect_evidence(c);
    if timed.is_empty() {
        return;
    }
    let open = if matches!(
        c.verdict,
        Verdict::Fail | Verdict::Warning | Verdict::Waived
    ) {
        " open"
    } else {
        ""
    };
    let _ = writeln!(
        o,
        "<details{open}><summary>Evidence: {} item(s), in time order</summary>",
        timed.len()
    );
    // One timeline per scenario: scenarios of one clause may lie months apart.
    let mut scenarios: Vec<&str> = Vec::new();
    for (_, e) in &timed {
        if !scenarios.contains(&e.scenario.as_str()) {
            scenarios.push(&e.scenario);
        }
    }
    for s in &scenarios {
        let marks: Vec<Mark> = timed
            .iter()
            .enumerate()
            .filter(|(_, (t, e))| e.scenario == *s && *t != Timestamp::MIN)
            .map(|(i, (t, e))| Mark {
                number: i + 1,
                at: *t,
                evidence: e,
            })
            .collect();
        if marks.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "<p class=\"meta\">Timeline of <a href=\"#{}\">{}</a>:</p>",
            esc(&scenario_anchor(s)),
            esc(s)
        );
        o.push_str(&timeline::chart(s, &marks));
    }
    let _ = writeln!(
        o,
        "<table class=\"evidence\">\n<thead><tr><th>#</th><th>time (Asia/Almaty)</th><th>scenario</th><th>probe</th><th>subject</th><th>observation</th><th>trace line</th></tr></thead>\n<tbody>"
    );
    for (i, (_, e)) in timed.iter().enumerate() {
        let line = match e.seq {
            Some(seq) => format!(
                "<a href=\"traces/{}.jsonl\">{}</a>",
                esc(&e.scenario),
                seq + 1
            ),
            None => "computed".to_string(),
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{line}</td></tr>",
            i + 1,
            esc(&e.at),
            esc(&e.scenario),
            esc(&e.probe),
            esc(&e.subject),
            esc(&e.text)
        );
    }
    let _ = writeln!(o, "</tbody>\n</table>\n</details>");
}

fn scenarios(o: &mut String, report: &Report) {
    let _ = writeln!(
        o,
        "<section id=\"scenarios\">\n<h2>Scenarios</h2>\n<table class=\"scenarios\">\n<colgroup><col class=\"c-id\"><col class=\"c-sys\"><col class=\"c-cl\"><col class=\"c-obs\"><col class=\"c-tr\"></colgroup>\n<thead><tr><th>scenario</th><th>system</th><th>clauses</th><th>observations</th><th>trace</th></tr></thead>\n<tbody>"
    );
    for s in &report.scenarios {
        let clauses: Vec<String> = s
            .clauses
            .iter()
            .map(|c| format!("<a href=\"#{}\">{}</a>", esc(&clause_anchor(c)), esc(c)))
            .collect();
        let _ = writeln!(
            o,
            "<tr id=\"{a}\"><td><b>{id}</b><br>{title}<br><code class=\"meta\">{file}</code></td><td>{sys}</td><td>{cl}</td><td>{n}</td><td><a href=\"traces/{id}.jsonl\">{id}.jsonl</a><br><code class=\"meta\" title=\"SHA-256 {sha}\">{short}…</code></td></tr>",
            a = esc(&scenario_anchor(&s.id)),
            id = esc(&s.id),
            title = esc(&s.title),
            file = esc(&s.file),
            sys = esc(&s.system),
            cl = clauses.join(", "),
            n = s.observations,
            sha = esc(&s.trace_sha256),
            short = esc(s.trace_sha256.get(..16).unwrap_or(&s.trace_sha256)),
        );
    }
    let _ = writeln!(o, "</tbody>\n</table>\n</section>");
}

fn documents(o: &mut String, report: &Report, catalogue: &Catalogue) {
    let _ = writeln!(
        o,
        "<section id=\"documents\">\n<h2>Documents cited</h2>\n<table>\n<thead><tr><th>key</th><th>document</th><th>registration</th><th>appendices</th><th>seed text</th></tr></thead>\n<tbody>"
    );
    for d in catalogue.documents() {
        if !report.clauses.iter().any(|c| c.document == d.key) {
            continue;
        }
        let apps: Vec<String> = d
            .appendices
            .iter()
            .enumerate()
            .map(|(i, a)| format!("Appendix {}: {}", i + 1, esc(a)))
            .collect();
        let amended = d
            .amended_by
            .as_ref()
            .map(|a| format!("<br>amended by {}", esc(a)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "<tr><td><code>{}</code></td><td>{} of {}{amended}<br><i>{}</i></td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&d.key),
            esc(&d.order),
            esc(&d.date),
            esc(&d.title),
            esc(&d.registration()),
            if apps.is_empty() {
                "—".to_string()
            } else {
                apps.join("<br>")
            },
            esc(&d.seed_file)
        );
    }
    let _ = writeln!(o, "</tbody>\n</table>\n</section>");
}
