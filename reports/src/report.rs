//! The report of one run: every catalogue clause with its verdict, and the run's identity.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalogue::{Catalogue, Clause, Obligation};
use crate::verdict::{Evidence, Judgement, Verdict};
pub use crate::waiver::{WaiverNote, WaiverSection};

/// The version of `report.json`'s layout; `schemas/report.schema.json` describes it.
/// 2: clauses carry obligations, the report an outcome.
/// 3: waivers (the verdict `waived`, the outcome `pass-with-waivers`, the report's `waivers`
/// and an obligation's `waiver`), and the calendar's digest.
pub const SCHEMA_VERSION: u32 = 3;

/// The run as a whole, in one word for CI and dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A clause fails.
    Fail,
    /// No clause fails; some warn, or a waiver is stale.
    PassWithWarnings,
    /// No clause fails or warns and no waiver is stale; some failures are waived.
    PassWithWaivers,
    /// No clause fails, warns or is waived, at least one passes.
    Pass,
    /// No clause was judged pass, fail or warning: the run shows nothing.
    NothingJudged,
}

impl Outcome {
    /// The outcome of a report with these clause totals; a stale waiver (one whose failure
    /// no longer happens) is a warning.
    pub fn of(totals: &BTreeMap<Verdict, usize>, stale_waivers: bool) -> Outcome {
        let count = |v: Verdict| totals.get(&v).copied().unwrap_or(0);
        if count(Verdict::Fail) > 0 {
            Outcome::Fail
        } else if count(Verdict::Warning) > 0 || stale_waivers {
            Outcome::PassWithWarnings
        } else if count(Verdict::Waived) > 0 {
            Outcome::PassWithWaivers
        } else if count(Verdict::Pass) > 0 {
            Outcome::Pass
        } else {
            Outcome::NothingJudged
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Fail => "fail",
            Outcome::PassWithWarnings => "pass-with-warnings",
            Outcome::PassWithWaivers => "pass-with-waivers",
            Outcome::Pass => "pass",
            Outcome::NothingJudged => "nothing-judged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub outcome: Outcome,
    pub suite_version: String,
    /// The run's seed; in a campaign's report, the lowest of its seeds.
    pub seed: u64,
    /// In a campaign's report: the seeds it unites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<CampaignSeeds>,
    pub target: qaqpa_sim::target::TargetInfo,
    /// The systems this run certifies (`ugia`, `ugem`, `bus`).
    pub systems: Vec<String>,
    /// The business calendar every deadline was computed with.
    pub calendar: CalendarInfo,
    pub scenarios: Vec<ScenarioRun>,
    pub totals: BTreeMap<Verdict, usize>,
    pub clauses: Vec<ClauseResult>,
    /// The waivers this report was judged with (`--waivers`), each with what became of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waivers: Option<WaiverSection>,
}

/// What identifies a run in its report: the suite, the seed, what was tested, and the
/// calendar its deadlines were computed with.
pub struct RunIdentity {
    pub suite_version: String,
    pub seed: u64,
    pub target: qaqpa_sim::target::TargetInfo,
    /// The systems the run certifies (`ugia`, `ugem`, `bus`).
    pub systems: Vec<String>,
    pub calendar: CalendarInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarInfo {
    /// The calendar files, built-in data first, then overrides in the order applied.
    pub sources: Vec<String>,
    pub first_year: i16,
    pub last_year: i16,
    /// Years whose transfers of days off were not yet decided when the data was written.
    pub provisional_years: Vec<i16>,
    /// SHA-256 of what the deadlines rest on (see [`CalendarInfo::digest`]): two runs computed
    /// their deadlines on the same days iff these agree, whatever files the days came from.
    pub sha256: String,
}

impl CalendarInfo {
    pub fn of(calendar: &qaqpa_sim::calendar::BusinessCalendar) -> CalendarInfo {
        let years = calendar.covered_years();
        CalendarInfo {
            sources: calendar.origins().to_vec(),
            first_year: *years.start(),
            last_year: *years.end(),
            provisional_years: years.filter(|y| calendar.is_provisional(*y)).collect(),
            sha256: CalendarInfo::digest(calendar),
        }
    }

    /// The calendar's digest: SHA-256 over UTF-8 text of one line per fact, each ending in
    /// `\n`: first `time-zone <IANA name>`, then `<YYYY-MM-DD> working` or
    /// `<YYYY-MM-DD> day-off` for every day of the covered years in order. Names of holidays
    /// and the files' layout do not count: only what a deadline can depend on.
    pub fn digest(calendar: &qaqpa_sim::calendar::BusinessCalendar) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let zone = calendar.time_zone().iana_name().unwrap_or("unnamed");
        h.update(format!("time-zone {zone}\n"));
        let years = calendar.covered_years();
        let mut day = qaqpa_sim::jiff::civil::date(*years.start(), 1, 1);
        while years.contains(&day.year()) {
            let working = calendar
                .is_working_day(day)
                .expect("a day of the covered years");
            let kind = if working { "working" } else { "day-off" };
            h.update(format!("{day} {kind}\n"));
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}–{} from {}",
            self.first_year,
            self.last_year,
            self.sources.join(" + ")
        );
        if !self.provisional_years.is_empty() {
            let ys: Vec<String> = self
                .provisional_years
                .iter()
                .map(|y| y.to_string())
                .collect();
            s.push_str(&format!("; provisional: {}", ys.join(", ")));
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRun {
    pub id: String,
    pub title: String,
    pub file: String,
    pub system: String,
    pub clauses: Vec<String>,
    pub observations: usize,
    /// SHA-256 of the scenario's trace as JSON lines: two runs agree iff these agree.
    pub trace_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClauseResult {
    pub id: String,
    pub number: String,
    pub document: String,
    pub systems: Vec<String>,
    pub kinds: Vec<String>,
    pub summary: String,
    /// Derived from the obligations: `fail` if one fails, else `warning` if one warns, else
    /// `not-tested` if a machine-checkable one was not judged, else `pass`.
    pub verdict: Verdict,
    /// How many obligations were judged and how ("1 of 2 obligations judged: ...").
    pub finding: String,
    pub scenarios: Vec<String>,
    /// The evidence of the obligations that decided the clause's verdict.
    pub evidence: Vec<Evidence>,
    pub obligations: Vec<ObligationResult>,
}

/// One obligation of a clause, judged on its own over every scenario that exercised it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObligationResult {
    pub id: String,
    pub kind: String,
    pub text: String,
    pub verdict: Verdict,
    pub finding: String,
    /// The scenarios whose oracles judged it (whatever they found).
    pub scenarios: Vec<String>,
    /// The evidence of the scenarios that gave the verdict, in time order per scenario.
    pub evidence: Vec<Evidence>,
    /// In a campaign's report: the lowest seed that gave this verdict (whose finding and
    /// evidence are shown) and how many seeds gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<SeedTally>,
    /// The waiver that covers this obligation's failure: its verdict is then `waived`, or
    /// stays `fail` when the waiver has expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<WaiverNote>,
}

/// Which seeds of a campaign gave an obligation's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedTally {
    pub first: u64,
    pub count: u64,
}

/// The seeds a campaign's report unites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignSeeds {
    pub first: u64,
    pub last: u64,
    pub count: u64,
}

/// Why two reports cannot be united.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the reports differ in {what}: {a} vs {b}; only runs of one suite, target and calendar unite"
)]
pub struct UnionError {
    pub what: &'static str,
    pub a: String,
    pub b: String,
}

/// The finding of an obligation no scenario of the run judged.
const NOT_EXERCISED: &str = "no scenario of this run exercises it";

/// The judgements of one obligation, scenario by scenario, before they are combined.
#[derive(Debug, Default)]
pub struct ObligationJudgements {
    pub by_scenario: Vec<(String, Judgement)>,
}

/// Every judgement of a run: clause id → obligation id → judgements.
pub type Judgements = BTreeMap<String, BTreeMap<String, ObligationJudgements>>;

impl ObligationResult {
    /// Combines an obligation's judgements: the worst verdict observed, with the findings and
    /// the evidence of the scenarios that gave it. A scenario that found nothing to judge
    /// does not dilute one that did.
    fn combine(
        obligation: &Obligation,
        in_scope: bool,
        judged: Option<&ObligationJudgements>,
    ) -> ObligationResult {
        let scenarios: Vec<String> = judged
            .map(|j| j.by_scenario.iter().map(|(s, _)| s.clone()).collect())
            .unwrap_or_default();
        let (verdict, finding, evidence) = if let Some(v) =
            unjudgeable(obligation.machine_checkable(), in_scope)
        {
            v
        } else {
            match judged.filter(|j| !j.by_scenario.is_empty()) {
                None => (
                    Verdict::NotTested,
                    match &obligation.not_judged_because {
                        Some(why) => format!("not judged by the harness: {why}"),
                        None => NOT_EXERCISED.to_string(),
                    },
                    vec![],
                ),
                Some(j) => {
                    let worst = j
                        .by_scenario
                        .iter()
                        .map(|(_, jd)| jd.verdict)
                        .max_by_key(|v| v.severity())
                        .unwrap_or(Verdict::NotTested);
                    let deciding = || j.by_scenario.iter().filter(|(_, jd)| jd.verdict == worst);
                    let finding = deciding()
                        .map(|(s, jd)| format!("{s}: {}", jd.finding))
                        .collect::<Vec<_>>()
                        .join("; ");
                    let evidence = deciding()
                        .flat_map(|(_, jd)| jd.evidence.iter().cloned())
                        .collect();
                    (worst, finding, evidence)
                }
            }
        };
        ObligationResult {
            id: obligation.id.clone(),
            kind: obligation.kind.as_str().to_string(),
            text: obligation.text.clone(),
            verdict,
            finding,
            scenarios,
            evidence,
            seeds: None,
            waiver: None,
        }
    }

    /// The worse of two results of one obligation from disjoint sets of seeds; between equal
    /// verdicts, the lowest seed's finding and evidence, with the counts added. Associative
    /// and commutative, so shards unite in any grouping to the same result.
    fn union(a: ObligationResult, b: ObligationResult) -> ObligationResult {
        let (ta, tb) = (a.seeds, b.seeds);
        let first = |t: Option<SeedTally>| t.map_or(u64::MAX, |t| t.first);
        let (sa, sb) = (a.verdict.severity(), b.verdict.severity());
        let mut out = if sa > sb || (sa == sb && first(ta) <= first(tb)) {
            a
        } else {
            b
        };
        if sa == sb {
            let count = ta.map_or(0, |t| t.count) + tb.map_or(0, |t| t.count);
            out.seeds = Some(SeedTally {
                first: first(ta).min(first(tb)),
                count,
            });
        }
        out
    }
}

impl ClauseResult {
    /// Derives verdict, finding, evidence and scenarios again from the obligations (after a
    /// union); what is not machine-checkable or not applicable stays so.
    pub fn rederive(&mut self) {
        if matches!(
            self.verdict,
            Verdict::NotMachineCheckable | Verdict::NotApplicable
        ) {
            return;
        }
        let Summary {
            verdict,
            finding,
            evidence,
            mut scenarios,
        } = summarise(true, true, &self.obligations);
        if self.obligations.iter().any(|o| o.seeds.is_some()) {
            scenarios.sort();
        }
        self.verdict = verdict;
        self.finding = finding;
        self.evidence = evidence;
        self.scenarios = scenarios;
    }

    /// Judges a clause from its obligations: it passes only when every machine-checkable
    /// obligation was judged and passed; one failure fails it, one warning makes it warn;
    /// otherwise an unjudged obligation leaves it not-tested, and the finding says which
    /// obligations were judged and how.
    pub fn combine(
        clause: &Clause,
        in_scope: bool,
        judged: Option<&BTreeMap<String, ObligationJudgements>>,
    ) -> ClauseResult {
        let obligations: Vec<ObligationResult> = clause
            .obligations
            .iter()
            .map(|o| ObligationResult::combine(o, in_scope, judged.and_then(|j| j.get(&o.id))))
            .collect();
        let Summary {
            verdict,
            finding,
            evidence,
            scenarios,
        } = summarise(clause.machine_checkable(), in_scope, &obligations);
        ClauseResult {
            id: clause.id.clone(),
            number: clause.number.clone(),
            document: clause.document.clone(),
            systems: clause
                .systems
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            kinds: clause
                .kinds
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
            summary: clause.summary.clone(),
            verdict,
            finding,
            scenarios,
            evidence,
            obligations,
        }
    }
}

/// The verdict of what a run cannot judge at all: paper, or a system it does not certify.
fn unjudgeable(
    machine_checkable: bool,
    in_scope: bool,
) -> Option<(Verdict, String, Vec<Evidence>)> {
    if !machine_checkable {
        Some((
            Verdict::NotMachineCheckable,
            "not checkable from a network or a trace".to_string(),
            vec![],
        ))
    } else if !in_scope {
        Some((
            Verdict::NotApplicable,
            "binds a system this run does not certify".to_string(),
            vec![],
        ))
    } else {
        None
    }
}

/// A clause's verdict, finding, evidence and scenarios, derived from its obligations.
struct Summary {
    verdict: Verdict,
    finding: String,
    evidence: Vec<Evidence>,
    scenarios: Vec<String>,
}

fn summarise(machine_checkable: bool, in_scope: bool, obligations: &[ObligationResult]) -> Summary {
    let mut scenarios: Vec<String> = Vec::new();
    for o in obligations {
        for s in &o.scenarios {
            if !scenarios.contains(s) {
                scenarios.push(s.clone());
            }
        }
    }
    let checkable: Vec<&ObligationResult> = obligations
        .iter()
        .filter(|o| o.verdict != Verdict::NotMachineCheckable)
        .collect();
    let judged_ones: Vec<&ObligationResult> = checkable
        .iter()
        .copied()
        .filter(|o| o.verdict.judged())
        .collect();
    let (verdict, finding, evidence) = if let Some(v) = unjudgeable(machine_checkable, in_scope) {
        v
    } else {
        let worst_judged = judged_ones
            .iter()
            .map(|o| o.verdict)
            .max_by_key(|v| v.severity());
        let verdict = match worst_judged {
            Some(v @ (Verdict::Fail | Verdict::Warning | Verdict::Waived)) => v,
            Some(_) if judged_ones.len() == checkable.len() => Verdict::Pass,
            _ => Verdict::NotTested,
        };
        let counted = format!(
            "{} of {} obligation{} judged",
            judged_ones.len(),
            checkable.len(),
            if checkable.len() == 1 { "" } else { "s" }
        );
        let finding = if judged_ones.is_empty() {
            // Why nothing was judged, when the obligations say more than that no scenario
            // exercised them (a live run's scenarios it did not play, say).
            let mut why: Vec<&str> = Vec::new();
            for o in &checkable {
                if o.finding != NOT_EXERCISED && !why.contains(&o.finding.as_str()) {
                    why.push(&o.finding);
                }
            }
            if why.is_empty() {
                format!("{counted}: {NOT_EXERCISED}")
            } else {
                format!("{counted}: {}", why.join("; "))
            }
        } else {
            let mut parts: Vec<String> = Vec::new();
            let mut order: Vec<&&ObligationResult> = judged_ones.iter().collect();
            order.sort_by_key(|o| std::cmp::Reverse(o.verdict.severity()));
            for o in order {
                if matches!(
                    o.verdict,
                    Verdict::Fail | Verdict::Warning | Verdict::Waived
                ) {
                    parts.push(format!("{} {}: {}", o.id, o.verdict, o.finding));
                } else {
                    parts.push(format!("{} {}", o.id, o.verdict));
                }
            }
            let unjudged: Vec<&str> = checkable
                .iter()
                .filter(|o| !judged_ones.iter().any(|j| j.id == o.id))
                .map(|o| o.id.as_str())
                .collect();
            let mut f = format!("{counted}: {}", parts.join("; "));
            if !unjudged.is_empty() {
                f.push_str(&format!("; not judged: {}", unjudged.join(", ")));
            }
            f
        };
        let evidence = obligations
            .iter()
            .filter(|o| o.verdict == verdict)
            .flat_map(|o| o.evidence.iter().cloned())
            .collect();
        (verdict, finding, evidence)
    };
    Summary {
        verdict,
        finding,
        evidence,
        scenarios,
    }
}

impl Report {
    /// Builds the report over the whole catalogue, so every clause appears whatever was run.
    pub fn assemble(
        catalogue: &Catalogue,
        run: RunIdentity,
        scenarios: Vec<ScenarioRun>,
        judgements: &Judgements,
    ) -> Report {
        let RunIdentity {
            suite_version,
            seed,
            target,
            systems,
            calendar,
        } = run;
        let clauses: Vec<ClauseResult> = catalogue
            .clauses()
            .iter()
            .map(|c| {
                let in_scope = c
                    .systems
                    .iter()
                    .any(|s| systems.iter().any(|x| x == s.as_str()));
                ClauseResult::combine(c, in_scope, judgements.get(&c.id))
            })
            .collect();
        let mut totals: BTreeMap<Verdict, usize> = Verdict::ALL.iter().map(|v| (*v, 0)).collect();
        for c in &clauses {
            *totals.entry(c.verdict).or_default() += 1;
        }
        let outcome = Outcome::of(&totals, false);
        Report {
            schema_version: SCHEMA_VERSION,
            outcome,
            suite_version,
            seed,
            campaign: None,
            target,
            systems,
            calendar,
            scenarios,
            totals,
            clauses,
            waivers: None,
        }
    }

    /// This run's report as one member of a campaign: every obligation tallies this seed, and
    /// its finding names it.
    pub fn as_campaign_member(mut self) -> Report {
        let seed = self.seed;
        self.campaign = Some(CampaignSeeds {
            first: seed,
            last: seed,
            count: 1,
        });
        for c in &mut self.clauses {
            for o in &mut c.obligations {
                o.seeds = Some(SeedTally {
                    first: seed,
                    count: 1,
                });
                if o.verdict.judged() {
                    o.finding = format!("seed {seed}: {}", o.finding);
                }
            }
            c.rederive();
        }
        self
    }

    /// Unites the reports of two disjoint sets of seeds of one campaign: the worst verdict
    /// per obligation, clauses derived again, the scenarios of the lowest seed. Reports judged
    /// with waivers unite only with reports judged with the same waivers on the same day; the
    /// union is of the verdicts before waivers, which are then applied again (a failure
    /// waived in one shard and a warning in another is a waived failure, not a warning).
    pub fn union(mut a: Report, mut b: Report) -> Result<Report, UnionError> {
        let same = |what: &'static str, x: String, y: String| {
            if x == y {
                Ok(())
            } else {
                Err(UnionError { what, a: x, b: y })
            }
        };
        same(
            "suite version",
            a.suite_version.clone(),
            b.suite_version.clone(),
        )?;
        same(
            "target",
            format!("{:?}", a.target),
            format!("{:?}", b.target),
        )?;
        same("systems", a.systems.join(","), b.systems.join(","))?;
        same("calendar", a.calendar.describe(), b.calendar.describe())?;
        let ids = |r: &Report| {
            r.clauses
                .iter()
                .map(|c| c.id.clone())
                .collect::<Vec<_>>()
                .join(",")
        };
        same("catalogue", ids(&a), ids(&b))?;
        same(
            "calendar digest",
            a.calendar.sha256.clone(),
            b.calendar.sha256.clone(),
        )?;
        let waivers = a.clear_waivers();
        let other = b.clear_waivers();
        let described = |w: &Option<WaiverSection>| match w {
            None => "none".to_string(),
            Some(w) => format!("{} checked on {}", w.describe_set(), w.checked_on),
        };
        same("waivers", described(&waivers), described(&other))?;
        let seeds = |r: &Report| {
            r.campaign.unwrap_or(CampaignSeeds {
                first: r.seed,
                last: r.seed,
                count: 1,
            })
        };
        let (ca, cb) = (seeds(&a), seeds(&b));
        let (low, high) = if ca.first <= cb.first { (a, b) } else { (b, a) };
        let clauses = low
            .clauses
            .into_iter()
            .zip(high.clauses)
            .map(|(x, y)| {
                let mut c = x;
                c.obligations = c
                    .obligations
                    .into_iter()
                    .zip(y.obligations)
                    .map(|(p, q)| ObligationResult::union(p, q))
                    .collect();
                c.rederive();
                c
            })
            .collect::<Vec<_>>();
        let mut totals: BTreeMap<Verdict, usize> = Verdict::ALL.iter().map(|v| (*v, 0)).collect();
        for c in &clauses {
            *totals.entry(c.verdict).or_default() += 1;
        }
        let mut united = Report {
            schema_version: SCHEMA_VERSION,
            outcome: Outcome::of(&totals, false),
            suite_version: low.suite_version,
            seed: low.seed.min(high.seed),
            campaign: Some(CampaignSeeds {
                first: ca.first.min(cb.first),
                last: ca.last.max(cb.last),
                count: ca.count + cb.count,
            }),
            target: low.target,
            systems: low.systems,
            calendar: low.calendar,
            scenarios: low.scenarios,
            totals,
            clauses,
            waivers: None,
        };
        if let Some(w) = waivers {
            united.apply_waivers(&w.file, w.checked_on, &w.definitions());
        }
        Ok(united)
    }

    pub fn failed(&self) -> bool {
        self.clauses.iter().any(|c| c.verdict == Verdict::Fail)
    }

    /// Counts the clauses by verdict again and derives the outcome (after waivers change
    /// verdicts).
    pub(crate) fn recount(&mut self) {
        let mut totals: BTreeMap<Verdict, usize> = Verdict::ALL.iter().map(|v| (*v, 0)).collect();
        for c in &self.clauses {
            *totals.entry(c.verdict).or_default() += 1;
        }
        let stale = self.stale_waivers().next().is_some();
        self.outcome = Outcome::of(&totals, stale);
        self.totals = totals;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qaqpa_sim::calendar::BusinessCalendar;
    use qaqpa_sim::jiff::civil::{Weekday, date};
    use sha2::{Digest, Sha256};

    /// The digest is SHA-256 of the text the schema documents, written out here on its own:
    /// a calendar of one year without holidays has the weekends off and nothing else.
    #[test]
    fn the_calendar_digest_is_the_documented_text() {
        let cal = BusinessCalendar::from_toml_str(
            "time_zone = \"Asia/Almaty\"\n[year.2021]\nsource = \"weekends only\"\n",
            "test",
        )
        .unwrap();
        let mut text = String::from("time-zone Asia/Almaty\n");
        let mut d = date(2021, 1, 1);
        while d.year() == 2021 {
            let off = matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday);
            text.push_str(&format!(
                "{d} {}\n",
                if off { "day-off" } else { "working" }
            ));
            d = d.tomorrow().unwrap();
        }
        assert_eq!(text.lines().count(), 1 + 365);
        let expected: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(CalendarInfo::digest(&cal), expected);
    }

    #[test]
    fn the_calendar_digest_follows_the_days_not_the_files() {
        let kz = BusinessCalendar::kazakhstan();
        let base = CalendarInfo::of(&kz).sha256;
        let reworded = kz
            .clone()
            .with_override_str("[year.2025]\nnotes = \"checked again\"\n", "notes.toml")
            .unwrap();
        assert_eq!(
            CalendarInfo::of(&reworded).sha256,
            base,
            "notes decide no deadline"
        );
        assert_ne!(
            CalendarInfo::of(&reworded).sources,
            CalendarInfo::of(&kz).sources
        );
        // Monday 4 January 2027 made a day off.
        let moved = kz
            .with_override_str(
                "[[year.2027.transfer]]\nday_off = 2027-01-04\nsource = \"test\"\n",
                "moved.toml",
            )
            .unwrap();
        assert_ne!(CalendarInfo::of(&moved).sha256, base);
    }
}
