//! The clause catalogue: every clause of the rules that a report lists, as data.
//!
//! The standard catalogue lives in `reports/data/clauses.toml` and is embedded in the binary.
//! Each entry quotes its clause verbatim from the seed texts (`text_kk`, and `text_en` from the
//! unofficial English translation where the document has one); `tests/catalogue_quotes.rs`
//! checks every quote against the seed files and every identifier of `rules/CLAUSES.md`
//! against the catalogue.
//!
//! **Order.** [`Catalogue::clauses`] keeps the order of the file: the ugia clauses, then ugem,
//! eint and ureq, each in the order of its document; an entry that splits a non-checkable part
//! off a clause (`ugia-app2.patchcords`) follows that clause. Reports list clauses in this order.
//!
//! **Checks made while loading** (each failure is a [`CatalogueError`] naming the origin, line,
//! column and field): the text is TOML of the schema below, with no unknown fields; ids are
//! unique and made of `a-z`, `0-9`, `-` and `.`; every clause cites a document of the
//! `[documents]` table; `systems`, `kinds` and `actors` are non-empty and free of repeats;
//! `not-machine-checkable` stands alone in `kinds`; required texts are not blank; `text_en` is
//! present exactly when the cited document carries an English translation, and `text_en_ours`
//! (our own translation) exactly when it does not; a registration has both its number and its
//! date; a clause's `appendix` is one its document lists.
//!
//! **Legal references.** [`Catalogue::citation`] expands a clause into what a regulator looks
//! up: the order or decree with its date, its Ministry of Justice registration, the appendix
//! that holds the clause (ugia-6 and ugem-6 are clause 6 of Appendix 1 and Appendix 2 of order
//! 386) and the clause number.
//!
//! ```toml
//! [documents.order-386]
//! seed_file = "000_79f46955be58ce07.txt"
//! order = "Order No. 386/НҚ of the Minister of ..."
//! date = "2020-10-13"
//! amended_by = "Order No. 79/НҚ of 2023-04-26"   # optional
//! title = "Rules for functioning of ..."
//! english_translation = true                      # default false
//! other_copies = []                               # optional: garbled copies never quoted
//! note = "..."                                    # optional
//! registration_number = "21436"                   # optional (a Government decree has none)
//! registration_date = "2020-10-15"                # with registration_number
//! appendices = ["Rules for ...", "Rules for ..."] # optional: what Appendix 1, 2, ... hold
//!
//! [[clause]]
//! id = "ugia-6"
//! systems = ["ugia"]                 # ugia | ugem | bus
//! document = "order-386"
//! number = "6"                       # as printed in the document
//! kinds = ["workflow"]               # network | workflow | form | not-machine-checkable
//! deadline = "10 working days"       # optional
//! actors = ["STS", "telecom operator"]
//! summary = "..."
//! check = "..."                      # what the harness observes to judge the clause
//! obligations = [                    # one judgeable thing each; at least one checkable one
//!   { id = "specifications-in-time", kind = "workflow", text = "..." },
//! ]                                  # (empty for not-machine-checkable entries)
//! text_kk = "..."                    # verbatim from the seed
//! text_en = "..."                    # verbatim from the translation, if the document has one
//! text_en_ours = "..."               # our own translation, if the document has none
//! appendix = 1                       # optional: the document's appendix holding the clause
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The standard catalogue, embedded at build time.
const STANDARD_TOML: &str = include_str!("../data/clauses.toml");

/// The origin named in errors about the embedded catalogue.
pub const STANDARD_ORIGIN: &str = "reports/data/clauses.toml";

/// A system the rules bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    /// Unified Internet Access Gateway (ИҚБШ / ЕШДИ).
    Ugia,
    /// Unified E-mail Gateway of e-government (ЭПБШ / ЕШЭП).
    Ugem,
    /// The e-government integration bus (ЭҮШ) and its external gateway (ЭҮСШ).
    Bus,
}

impl System {
    /// Every system, in catalogue order.
    pub const ALL: [System; 3] = [System::Ugia, System::Ugem, System::Bus];

    /// The kebab-case word used in the catalogue and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            System::Ugia => "ugia",
            System::Ugem => "ugem",
            System::Bus => "bus",
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for System {
    type Err = UnknownWord;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        System::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownWord::new(s, System::ALL.map(System::as_str).as_slice()))
    }
}

/// What kind of evidence can judge a clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClauseKind {
    /// Judged from packets, connections, messages or mail seen by the harness's probes.
    Network,
    /// Judged from the events of an operator's or user's process on the business calendar.
    Workflow,
    /// Judged by validating the fields of an application, act or form.
    Form,
    /// Cannot be judged from a trace (paper signatures, seals, cabling); always listed so the
    /// auditor sees it. Stands alone in a clause's `kinds`.
    NotMachineCheckable,
}

impl ClauseKind {
    /// Every kind, in declaration order.
    pub const ALL: [ClauseKind; 4] = [
        ClauseKind::Network,
        ClauseKind::Workflow,
        ClauseKind::Form,
        ClauseKind::NotMachineCheckable,
    ];

    /// The kebab-case word used in the catalogue and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ClauseKind::Network => "network",
            ClauseKind::Workflow => "workflow",
            ClauseKind::Form => "form",
            ClauseKind::NotMachineCheckable => "not-machine-checkable",
        }
    }
}

impl fmt::Display for ClauseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClauseKind {
    type Err = UnknownWord;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClauseKind::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownWord::new(s, ClauseKind::ALL.map(ClauseKind::as_str).as_slice()))
    }
}

/// A word that names no [`System`] or [`ClauseKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown word `{word}`, expected one of: {expected}")]
pub struct UnknownWord {
    /// The word given.
    pub word: String,
    /// The accepted words, comma-separated.
    pub expected: String,
}

impl UnknownWord {
    fn new(word: &str, expected: &[&str]) -> Self {
        UnknownWord {
            word: word.to_owned(),
            expected: expected.join(", "),
        }
    }
}

/// One clause of the rules (or one non-checkable part split off a clause).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// The harness's identifier, e.g. `ugia-13`, `eint-app7-5.3`, `ugia-app2.patchcords`.
    pub id: String,
    /// The systems the clause binds, in the order given in the catalogue.
    pub systems: Vec<System>,
    /// Key of the cited [`Document`].
    pub document: String,
    /// The clause number as printed in the document ("15-1", "128 6)", "Appendix 2").
    pub number: String,
    /// The Kazakh text, an exact substring of the document's seed file.
    pub text_kk: String,
    /// The unofficial English translation, an exact substring of the seed file; present exactly
    /// when the document carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_en: Option<String>,
    /// Our own English translation of `text_kk` (unofficial; every rendering says so), present
    /// exactly when the document has no English translation of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_en_ours: Option<String>,
    /// The appendix of the document that holds the clause (1 for Appendix 1), when the
    /// document's text is split into appendices; see [`Document::appendices`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appendix: Option<u32>,
    /// A short English digest (not a quote).
    pub summary: String,
    /// Who the clause obliges or involves ("STS", "telecom operator", "operator", ...).
    pub actors: Vec<String>,
    /// Kinds of evidence, primary first; `not-machine-checkable` stands alone.
    pub kinds: Vec<ClauseKind>,
    /// The clause's time limit or period in words ("10 working days"), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// One sentence: what the harness observes to judge the clause.
    pub check: String,
    /// What the clause obliges, one judgeable thing each (answered in time; the attack is
    /// blocked; …). Each is judged on its own; the clause passes only when every
    /// machine-checkable one was judged and passed. Empty only for non-checkable entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub obligations: Vec<Obligation>,
}

/// One obligation of a clause: the unit an oracle judges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Obligation {
    /// Unique within its clause, e.g. `answered-in-time`; reports show `ugia-17/answered-in-time`.
    pub id: String,
    /// The evidence that can judge it; `not-machine-checkable` for paper, seals, signatures.
    pub kind: ClauseKind,
    /// One sentence in English: what must hold.
    pub text: String,
    /// Why no run of the harness judges this obligation although it is observable in
    /// principle: the party it obliges is one the harness itself plays (judging it would
    /// certify the harness). Reports give this reason for its `not-tested`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_judged_because: Option<String>,
}

impl Obligation {
    pub fn machine_checkable(&self) -> bool {
        self.kind != ClauseKind::NotMachineCheckable
    }
}

impl Clause {
    /// Whether a run can judge the clause at all (false for paper, seals, cabling).
    pub fn machine_checkable(&self) -> bool {
        !self.kinds.contains(&ClauseKind::NotMachineCheckable)
    }

    /// The primary kind (the first of `kinds`).
    pub fn primary_kind(&self) -> ClauseKind {
        self.kinds[0]
    }

    /// Whether the clause binds `system`.
    pub fn binds(&self, system: System) -> bool {
        self.systems.contains(&system)
    }
}

/// A document the catalogue quotes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// The key clauses cite, e.g. `order-386`.
    pub key: String,
    /// File name of the seed text in `shared/seeds/`.
    pub seed_file: String,
    /// The order or decree, with its number.
    pub order: String,
    /// Date of the order or decree, `YYYY-MM-DD`.
    pub date: String,
    /// The amending act, if the seed is an amended text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amended_by: Option<String>,
    /// English title.
    pub title: String,
    /// Whether the seed file also carries an (unofficial) English translation.
    pub english_translation: bool,
    /// Other seed files holding the same text in a garbled form; never quoted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_copies: Vec<String>,
    /// Reading notes about the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The number under which the Ministry of Justice registered the act (orders of ministers
    /// are registered; Government decrees are not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_number: Option<String>,
    /// The date of that registration, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_date: Option<String>,
    /// What each appendix of the act holds, Appendix 1 first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub appendices: Vec<String>,
}

impl Document {
    /// The registration in words: "registered with the Ministry of Justice on DATE under No. N",
    /// or why there is none.
    pub fn registration(&self) -> String {
        match (&self.registration_number, &self.registration_date) {
            (Some(n), Some(d)) => {
                format!("registered with the Ministry of Justice on {d} under No. {n}")
            }
            _ => "not registered with the Ministry of Justice (a Government decree)".to_string(),
        }
    }
}

/// A clause's legal reference, expanded: what a regulator needs to find the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    /// The act with its date, e.g. "Order No. 386/НҚ of the Minister of … of 2020-10-13".
    pub act: String,
    /// Its registration with the Ministry of Justice, in words.
    pub registration: String,
    /// The amending act, if the quoted text is an amended one.
    pub amended_by: Option<String>,
    /// The appendix holding the clause and what it holds, e.g. "Appendix 1 (Rules for …)".
    pub appendix: Option<String>,
    /// "clause 6", or the number as printed when it names an appendix or form itself.
    pub clause: String,
}

impl fmt::Display for Citation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.act, self.registration)?;
        if let Some(a) = &self.amended_by {
            write!(f, "; amended by {a}")?;
        }
        f.write_str(")")?;
        if let Some(a) = &self.appendix {
            write!(f, ", {a}")?;
        }
        write!(f, ", {}", self.clause)
    }
}

/// The catalogue: documents and clauses.
#[derive(Debug, Clone, Serialize)]
pub struct Catalogue {
    documents: Vec<Document>,
    clauses: Vec<Clause>,
    #[serde(skip)]
    by_id: BTreeMap<String, usize>,
}

impl Catalogue {
    /// The standard catalogue embedded from `reports/data/clauses.toml`, parsed on first use.
    ///
    /// # Panics
    /// If the embedded file is broken, which the unit tests of this module guard against.
    pub fn standard() -> &'static Catalogue {
        static STANDARD: OnceLock<Catalogue> = OnceLock::new();
        STANDARD.get_or_init(|| {
            Catalogue::from_toml_str(STANDARD_TOML, STANDARD_ORIGIN)
                .unwrap_or_else(|e| panic!("the embedded clause catalogue is broken: {e}"))
        })
    }

    /// Parses and checks a catalogue. `origin` (a file name) is named in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Catalogue, CatalogueError> {
        let src = Source { text, origin };
        let raw: RawFile = toml::from_str(text).map_err(|e| src.toml_error(&e))?;

        let mut documents = Vec::with_capacity(raw.documents.len());
        for (key, doc) in raw.documents {
            let key_text = key.get_ref().clone();
            let ctx = format!("document `{key_text}`");
            src.check_word(&key, &ctx, "key", is_id_char)?;
            src.check_text(&doc.seed_file, &ctx, "seed_file")?;
            src.check_text(&doc.order, &ctx, "order")?;
            src.check_text(&doc.title, &ctx, "title")?;
            if !is_iso_date(doc.date.get_ref()) {
                return Err(src.invalid(
                    doc.date.span(),
                    &ctx,
                    "date",
                    "expected a date YYYY-MM-DD",
                ));
            }
            match (&doc.registration_number, &doc.registration_date) {
                (None, None) => {}
                (Some(n), Some(d)) => {
                    src.check_text(n, &ctx, "registration_number")?;
                    if !is_iso_date(d.get_ref()) {
                        return Err(src.invalid(
                            d.span(),
                            &ctx,
                            "registration_date",
                            "expected a date YYYY-MM-DD",
                        ));
                    }
                }
                (Some(n), None) => {
                    return Err(src.invalid(
                        n.span(),
                        &ctx,
                        "registration_date",
                        "missing; a registration needs its number and its date",
                    ));
                }
                (None, Some(d)) => {
                    return Err(src.invalid(
                        d.span(),
                        &ctx,
                        "registration_number",
                        "missing; a registration needs its number and its date",
                    ));
                }
            }
            if let Some(apps) = &doc.appendices
                && apps.get_ref().iter().any(|a| a.trim().is_empty())
            {
                return Err(src.invalid(
                    apps.span(),
                    &ctx,
                    "appendices",
                    "expected what each appendix holds, not a blank",
                ));
            }
            documents.push(Document {
                key: key_text,
                seed_file: doc.seed_file.into_inner(),
                order: doc.order.into_inner(),
                date: doc.date.into_inner(),
                amended_by: doc.amended_by,
                title: doc.title.into_inner(),
                english_translation: doc.english_translation,
                other_copies: doc.other_copies,
                note: doc.note,
                registration_number: doc.registration_number.map(Spanned::into_inner),
                registration_date: doc.registration_date.map(Spanned::into_inner),
                appendices: doc.appendices.map(Spanned::into_inner).unwrap_or_default(),
            });
        }

        let mut clauses = Vec::with_capacity(raw.clauses.len());
        let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
        let mut first_span: Vec<Range<usize>> = Vec::with_capacity(raw.clauses.len());
        for (index, entry) in raw.clauses.into_iter().enumerate() {
            let table_span = entry.span();
            let c = entry.into_inner();
            let id = c.id.get_ref().clone();
            let ctx = if id.is_empty() {
                format!("clause #{}", index + 1)
            } else {
                format!("clause `{id}`")
            };

            src.check_word(&c.id, &ctx, "id", is_id_char)?;
            if let Some(&first) = by_id.get(&id) {
                return Err(CatalogueError::DuplicateId {
                    id,
                    first: src.location(first_span[first].start),
                    at: src.location(c.id.span().start),
                });
            }

            let Some(doc) = documents.iter().find(|d| d.key == *c.document.get_ref()) else {
                let known: Vec<&str> = documents.iter().map(|d| d.key.as_str()).collect();
                return Err(src.invalid(
                    c.document.span(),
                    &ctx,
                    "document",
                    &format!(
                        "unknown document `{}`, expected one of the [documents] keys: {}",
                        c.document.get_ref(),
                        known.join(", ")
                    ),
                ));
            };
            src.check_list(&c.systems, &ctx, "systems")?;
            src.check_list(&c.kinds, &ctx, "kinds")?;
            if c.kinds.get_ref().len() > 1
                && c.kinds.get_ref().contains(&ClauseKind::NotMachineCheckable)
            {
                return Err(src.invalid(
                    c.kinds.span(),
                    &ctx,
                    "kinds",
                    "`not-machine-checkable` must stand alone; split the non-checkable part into its own entry",
                ));
            }
            src.check_list(&c.actors, &ctx, "actors")?;
            for actor in c.actors.get_ref() {
                if actor.trim().is_empty() {
                    return Err(src.invalid(
                        c.actors.span(),
                        &ctx,
                        "actors",
                        "expected non-blank actor names",
                    ));
                }
            }
            src.check_text(&c.number, &ctx, "number")?;
            src.check_text(&c.text_kk, &ctx, "text_kk")?;
            src.check_text(&c.summary, &ctx, "summary")?;
            src.check_text(&c.check, &ctx, "check")?;
            if let Some(deadline) = &c.deadline {
                src.check_text(deadline, &ctx, "deadline")?;
            }
            match (&c.text_en, doc.english_translation) {
                (Some(en), true) => src.check_text(en, &ctx, "text_en")?,
                (None, false) => {}
                (Some(en), false) => {
                    return Err(src.invalid(
                        en.span(),
                        &ctx,
                        "text_en",
                        &format!(
                            "document `{}` has no English translation; expected no text_en",
                            doc.key
                        ),
                    ));
                }
                (None, true) => {
                    return Err(src.invalid(
                        table_span,
                        &ctx,
                        "text_en",
                        &format!(
                            "missing; expected the English quote, since document `{}` carries a translation",
                            doc.key
                        ),
                    ));
                }
            }

            match (&c.text_en_ours, doc.english_translation) {
                (Some(en), false) => src.check_text(en, &ctx, "text_en_ours")?,
                (None, true) => {}
                (Some(en), true) => {
                    return Err(src.invalid(
                        en.span(),
                        &ctx,
                        "text_en_ours",
                        &format!(
                            "document `{}` carries its own English translation; quote it in text_en instead",
                            doc.key
                        ),
                    ));
                }
                (None, false) => {
                    return Err(src.invalid(
                        table_span,
                        &ctx,
                        "text_en_ours",
                        &format!(
                            "missing; expected our English translation, since document `{}` has none",
                            doc.key
                        ),
                    ));
                }
            }
            if let Some(n) = &c.appendix {
                let listed = doc.appendices.len();
                if *n.get_ref() == 0 || *n.get_ref() as usize > listed {
                    return Err(src.invalid(
                        n.span(),
                        &ctx,
                        "appendix",
                        &format!(
                            "document `{}` lists {listed} appendices; expected a number from 1 to {listed}",
                            doc.key
                        ),
                    ));
                }
            }

            let obligations =
                src.check_obligations(c.obligations, table_span.clone(), &ctx, c.kinds.get_ref())?;

            by_id.insert(id.clone(), clauses.len());
            first_span.push(c.id.span());
            clauses.push(Clause {
                id,
                systems: c.systems.into_inner(),
                document: c.document.into_inner(),
                number: c.number.into_inner(),
                text_kk: c.text_kk.into_inner(),
                text_en: c.text_en.map(Spanned::into_inner),
                text_en_ours: c.text_en_ours.map(Spanned::into_inner),
                appendix: c.appendix.map(Spanned::into_inner),
                summary: c.summary.into_inner(),
                actors: c.actors.into_inner(),
                kinds: c.kinds.into_inner(),
                deadline: c.deadline.map(Spanned::into_inner),
                check: c.check.into_inner(),
                obligations,
            });
        }

        Ok(Catalogue {
            documents,
            clauses,
            by_id,
        })
    }

    /// Every clause, in catalogue order (see the module documentation).
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// The clause with this id.
    pub fn get(&self, id: &str) -> Option<&Clause> {
        self.by_id.get(id).map(|&i| &self.clauses[i])
    }

    /// The document with this key.
    pub fn document(&self, key: &str) -> Option<&Document> {
        self.documents.iter().find(|d| d.key == key)
    }

    /// Every document, sorted by key.
    pub fn documents(&self) -> &[Document] {
        &self.documents
    }

    /// A clause's legal reference, expanded (see [`Citation`]).
    pub fn citation(&self, clause: &Clause) -> Citation {
        let doc = self.document(&clause.document);
        let act = match doc {
            Some(d) => format!("{} of {}", d.order, d.date),
            None => clause.document.clone(),
        };
        let appendix =
            clause.appendix.map(
                |n| match doc.and_then(|d| d.appendices.get(n as usize - 1)) {
                    Some(holds) => format!("Appendix {n} ({holds})"),
                    None => format!("Appendix {n}"),
                },
            );
        // Numbers that name a form or appendix ("Appendix 3", "Appendix 7, 5 3)") stand as
        // printed; the others are clause numbers.
        let clause_no = if clause.number.starts_with("Appendix") {
            clause.number.clone()
        } else {
            format!("clause {}", clause.number)
        };
        Citation {
            act,
            registration: doc.map(Document::registration).unwrap_or_default(),
            amended_by: doc.and_then(|d| d.amended_by.clone()),
            appendix,
            clause: clause_no,
        }
    }

    /// The obligation `obligation` of clause `clause`.
    pub fn obligation(&self, clause: &str, obligation: &str) -> Option<&Obligation> {
        self.get(clause)?
            .obligations
            .iter()
            .find(|o| o.id == obligation)
    }

    /// The clauses binding `system`, in catalogue order.
    pub fn for_system(&self, system: System) -> impl Iterator<Item = &Clause> {
        self.clauses.iter().filter(move |c| c.binds(system))
    }
}

/// A place in a catalogue text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The origin given to [`Catalogue::from_toml_str`].
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)
    }
}

/// Why a catalogue text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    /// The text is not TOML, or a value does not fit the schema (wrong type, unknown word,
    /// missing or unknown field).
    #[error("{at}: {}{message}", describe(table, field.as_deref()))]
    Parse {
        /// Where.
        at: Location,
        /// The enclosing table, e.g. "clause `ugia-7`", "clause #3", "document `order-386`".
        table: Option<String>,
        /// The offending field, when it can be told.
        field: Option<String>,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A value that parses but breaks a rule of the catalogue.
    #[error("{at}: {}{message}", describe(table, Some(field)))]
    Invalid {
        /// Where.
        at: Location,
        /// The enclosing table.
        table: Option<String>,
        /// The offending field.
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// Two clauses share an id.
    #[error("{at}: duplicate clause id `{id}`, first defined at {first}")]
    DuplicateId {
        /// The id.
        id: String,
        /// The first definition.
        first: Location,
        /// The second definition.
        at: Location,
    },
}

impl CatalogueError {
    /// Where the error is (for a duplicate id, the second definition).
    pub fn location(&self) -> &Location {
        match self {
            CatalogueError::Parse { at, .. }
            | CatalogueError::Invalid { at, .. }
            | CatalogueError::DuplicateId { at, .. } => at,
        }
    }

    /// The offending field, when known (`id` for a duplicate id).
    pub fn field(&self) -> Option<&str> {
        match self {
            CatalogueError::Parse { field, .. } => field.as_deref(),
            CatalogueError::Invalid { field, .. } => Some(field),
            CatalogueError::DuplicateId { .. } => Some("id"),
        }
    }
}

fn describe(table: &Option<String>, field: Option<&str>) -> String {
    match (table, field) {
        (Some(t), Some(f)) => format!("{t}, field `{f}`: "),
        (Some(t), None) => format!("{t}: "),
        (None, Some(f)) => format!("field `{f}`: "),
        (None, None) => String::new(),
    }
}

// ------------------------------------------------------------------------------------------
// Raw schema, with spans for error locations.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    documents: BTreeMap<Spanned<String>, RawDocument>,
    #[serde(rename = "clause", default)]
    clauses: Vec<Spanned<RawClause>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    seed_file: Spanned<String>,
    order: Spanned<String>,
    date: Spanned<String>,
    #[serde(default)]
    amended_by: Option<String>,
    title: Spanned<String>,
    #[serde(default)]
    english_translation: bool,
    #[serde(default)]
    other_copies: Vec<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    registration_number: Option<Spanned<String>>,
    #[serde(default)]
    registration_date: Option<Spanned<String>>,
    #[serde(default)]
    appendices: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClause {
    id: Spanned<String>,
    systems: Spanned<Vec<System>>,
    document: Spanned<String>,
    number: Spanned<String>,
    text_kk: Spanned<String>,
    #[serde(default)]
    text_en: Option<Spanned<String>>,
    #[serde(default)]
    text_en_ours: Option<Spanned<String>>,
    #[serde(default)]
    appendix: Option<Spanned<u32>>,
    summary: Spanned<String>,
    actors: Spanned<Vec<String>>,
    kinds: Spanned<Vec<ClauseKind>>,
    #[serde(default)]
    deadline: Option<Spanned<String>>,
    check: Spanned<String>,
    #[serde(default)]
    obligations: Option<Spanned<Vec<RawObligation>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObligation {
    id: String,
    kind: ClauseKind,
    text: String,
    #[serde(default)]
    not_judged_because: Option<String>,
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, &c)| {
            if i == 4 || i == 7 {
                c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// The text being loaded, for turning byte spans into locations and contexts.
struct Source<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Source<'_> {
    fn location(&self, offset: usize) -> Location {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            origin: self.origin.to_owned(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    fn invalid(
        &self,
        span: Range<usize>,
        table: &str,
        field: &str,
        message: &str,
    ) -> CatalogueError {
        CatalogueError::Invalid {
            at: self.location(span.start),
            table: Some(table.to_owned()),
            field: field.to_owned(),
            message: message.to_owned(),
        }
    }

    fn check_text(
        &self,
        value: &Spanned<String>,
        table: &str,
        field: &str,
    ) -> Result<(), CatalogueError> {
        if value.get_ref().trim().is_empty() {
            return Err(self.invalid(value.span(), table, field, "expected a non-blank text"));
        }
        Ok(())
    }

    fn check_word(
        &self,
        value: &Spanned<String>,
        table: &str,
        field: &str,
        allowed: fn(char) -> bool,
    ) -> Result<(), CatalogueError> {
        let v = value.get_ref();
        if v.is_empty() || !v.chars().all(allowed) {
            return Err(self.invalid(
                value.span(),
                table,
                field,
                &format!("invalid `{v}`, expected a non-empty word of a-z, 0-9, `-` and `.`"),
            ));
        }
        Ok(())
    }

    fn check_list<T: PartialEq + fmt::Debug>(
        &self,
        value: &Spanned<Vec<T>>,
        table: &str,
        field: &str,
    ) -> Result<(), CatalogueError> {
        let items = value.get_ref();
        if items.is_empty() {
            return Err(self.invalid(value.span(), table, field, "expected at least one entry"));
        }
        for (i, item) in items.iter().enumerate() {
            if items[..i].contains(item) {
                return Err(self.invalid(
                    value.span(),
                    table,
                    field,
                    &format!("{item:?} is listed twice"),
                ));
            }
        }
        Ok(())
    }

    /// A clause's obligations: a checkable clause has at least one checkable obligation, of one
    /// of the clause's kinds; ids are words, unique within the clause; texts are not blank; a
    /// non-checkable entry has only non-checkable obligations.
    fn check_obligations(
        &self,
        raw: Option<Spanned<Vec<RawObligation>>>,
        table_span: Range<usize>,
        table: &str,
        kinds: &[ClauseKind],
    ) -> Result<Vec<Obligation>, CatalogueError> {
        let checkable = !kinds.contains(&ClauseKind::NotMachineCheckable);
        let (span, list) = match raw {
            Some(s) => (s.span(), s.into_inner()),
            None => (table_span, Vec::new()),
        };
        let fail =
            |message: String| Err(self.invalid(span.clone(), table, "obligations", &message));
        if checkable
            && !list
                .iter()
                .any(|o| o.kind != ClauseKind::NotMachineCheckable)
        {
            return fail(
                "expected at least one machine-checkable obligation ({ id, kind, text }) for a clause of these kinds".into(),
            );
        }
        let mut out: Vec<Obligation> = Vec::with_capacity(list.len());
        for o in list {
            if o.id.is_empty() || !o.id.chars().all(is_id_char) {
                return fail(format!(
                    "invalid obligation id `{}`, expected a non-empty word of a-z, 0-9, `-` and `.`",
                    o.id
                ));
            }
            if out.iter().any(|x| x.id == o.id) {
                return fail(format!("obligation `{}` is listed twice", o.id));
            }
            if o.text.trim().is_empty() {
                return fail(format!("obligation `{}` has a blank text", o.id));
            }
            if o.kind != ClauseKind::NotMachineCheckable && !kinds.contains(&o.kind) {
                return fail(format!(
                    "obligation `{}` is of kind `{}`, which the clause's kinds do not list",
                    o.id, o.kind
                ));
            }
            if let Some(why) = &o.not_judged_because {
                if why.trim().is_empty() {
                    return fail(format!(
                        "obligation `{}` has a blank not_judged_because: say which party the harness plays",
                        o.id
                    ));
                }
                if o.kind == ClauseKind::NotMachineCheckable {
                    return fail(format!(
                        "obligation `{}` is not-machine-checkable: not_judged_because is for observable obligations the harness does not judge",
                        o.id
                    ));
                }
            }
            out.push(Obligation {
                id: o.id,
                kind: o.kind,
                text: o.text,
                not_judged_because: o.not_judged_because,
            });
        }
        Ok(out)
    }

    /// Turns a toml error into a [`CatalogueError::Parse`] naming the table and field.
    fn toml_error(&self, e: &toml::de::Error) -> CatalogueError {
        let message = e.message().trim().to_owned();
        let span = e.span().unwrap_or(self.text.len()..self.text.len());
        let mut offset = span.start;
        let mut field = None;

        // Missing and unknown fields are named by the message; point at the unknown key itself
        // when it can be found inside the span.
        for (prefix, is_unknown) in [("missing field `", false), ("unknown field `", true)] {
            if let Some(rest) = message.strip_prefix(prefix)
                && let Some(end) = rest.find('`')
            {
                let name = &rest[..end];
                field = Some(name.to_owned());
                if is_unknown && let Some(at) = self.find_key(span.clone(), name) {
                    offset = at;
                }
            }
        }
        if field.is_none() {
            field = self.key_before(offset);
        }
        let message = if message.starts_with("missing field `") {
            "required field is missing".to_owned()
        } else {
            message
        };
        CatalogueError::Parse {
            at: self.location(offset),
            table: self.table_at(offset),
            field,
            message,
        }
    }

    /// Byte offset of a line `name = ...` inside `span`.
    fn find_key(&self, span: Range<usize>, name: &str) -> Option<usize> {
        let end = floor_char_boundary(self.text, span.end.min(self.text.len()));
        let start = floor_char_boundary(self.text, span.start.min(end));
        let mut pos = start;
        for line in self.text[start..end].split_inclusive('\n') {
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix(name)
                && rest.trim_start().starts_with('=')
            {
                return Some(pos + (line.len() - trimmed.len()));
            }
            pos += line.len();
        }
        None
    }

    /// The key of the `key = value` line holding `offset`, or of the nearest such line above it
    /// within the same table (for values spanning lines).
    fn key_before(&self, offset: usize) -> Option<String> {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let line_end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        for line in self.text[..line_end].rsplit('\n') {
            let t = line.trim_start();
            if t.starts_with('[') {
                return None;
            }
            if let Some((key, _)) = t.split_once('=') {
                let key = key.trim();
                if !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Some(key.to_owned());
                }
            }
        }
        None
    }

    /// A description of the table enclosing `offset`: "clause `id`", "clause #n" or
    /// "document `key`".
    fn table_at(&self, offset: usize) -> Option<String> {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let mut header: Option<(usize, &str)> = None; // (line start offset, header text)
        let mut clause_count = 0;
        let mut pos = 0;
        for line in self.text.split_inclusive('\n') {
            if pos > offset {
                break;
            }
            let t = line.trim();
            if t.starts_with("[[clause]]") {
                clause_count += 1;
                header = Some((pos + line.len(), "[[clause]]"));
            } else if t.starts_with('[') && !t.starts_with("[[") && t.ends_with(']') {
                header = Some((pos + line.len(), t));
            }
            pos += line.len();
        }
        let (body_start, h) = header?;
        if h == "[[clause]]" {
            let id = self.text[body_start..]
                .lines()
                .take_while(|l| !l.trim_start().starts_with('['))
                .find_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    (k.trim() == "id")
                        .then(|| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
                });
            Some(match id {
                Some(id) if !id.is_empty() => format!("clause `{id}`"),
                _ => format!("clause #{clause_count}"),
            })
        } else {
            let inner = h.trim_start_matches('[').trim_end_matches(']').trim();
            match inner.strip_prefix("documents.") {
                Some(key) => Some(format!(
                    "document `{}`",
                    key.trim_matches(|c| c == '"' || c == '\'')
                )),
                None => Some(format!("table `{inner}`")),
            }
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small valid catalogue; line numbers below are relied on by the tests.
    const GOOD: &str = r#"[documents.doc-a]
seed_file = "a.txt"
order = "Order No. 1"
date = "2020-01-02"
title = "Rules A"
english_translation = true
registration_number = "123"
registration_date = "2020-01-05"
appendices = ["Rules of the gateway", "Rules of the mail gateway"]

[documents.doc-b]
seed_file = "b.txt"
order = "Order No. 2"
date = "2021-03-04"
title = "Rules B"

[[clause]]
id = "ugia-1"
systems = ["ugia"]
document = "doc-a"
number = "1"
kinds = ["network", "workflow"]
deadline = "10 working days"
obligations = [
  { id = "answered-in-time", kind = "workflow", text = "answered within 10 working days" },
  { id = "in-force", kind = "network", text = "the policy is in force on the wire" },
]
actors = ["STS"]
summary = "S"
check = "C"
text_kk = "қазақша"
text_en = "english"

[[clause]]
id = "ugia-1.paper"
systems = ["ugia"]
document = "doc-a"
number = "Appendix 1"
kinds = ["not-machine-checkable"]
actors = ["User"]
summary = "S"
check = "C"
text_kk = "қол"
text_en = "signature"
appendix = 1

[[clause]]
id = "eint-2"
systems = ["bus", "ugia"]
document = "doc-b"
number = "2"
kinds = ["form"]
actors = ["operator"]
obligations = [{ id = "deficient-never-granted", kind = "form", text = "T" }]
summary = "S"
check = "C"
text_kk = "мәтін"
text_en_ours = "text"
"#;

    fn parse(text: &str) -> Result<Catalogue, CatalogueError> {
        Catalogue::from_toml_str(text, "test.toml")
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text[..text.find(needle).expect("needle")]
            .matches('\n')
            .count()
            + 1
    }

    #[test]
    fn embedded_catalogue_parses() {
        let cat = Catalogue::from_toml_str(STANDARD_TOML, STANDARD_ORIGIN)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(std::ptr::eq(Catalogue::standard(), Catalogue::standard()));
        assert_eq!(Catalogue::standard().clauses().len(), cat.clauses().len());
        assert!(
            cat.clauses().len() > 80,
            "only {} clauses",
            cat.clauses().len()
        );

        // Documented order: the ugia group, then ugem, eint, ureq.
        let rank = |id: &str| {
            ["ugia-", "ugem-", "eint-", "ureq-"]
                .iter()
                .position(|p| id.starts_with(p))
        };
        let ranks: Vec<usize> = cat
            .clauses()
            .iter()
            .map(|c| rank(&c.id).unwrap_or_else(|| panic!("unexpected id {}", c.id)))
            .collect();
        assert!(
            ranks.windows(2).all(|w| w[0] <= w[1]),
            "clauses out of group order"
        );

        for c in cat.clauses() {
            assert!(cat.document(&c.document).is_some());
            assert_eq!(cat.get(&c.id).map(|g| &g.id), Some(&c.id));
        }
        let ugia6 = cat.get("ugia-6").expect("ugia-6");
        assert_eq!(ugia6.deadline.as_deref(), Some("10 working days"));
        assert!(ugia6.machine_checkable());
        assert!(
            !cat.get("ugia-app2.patchcords")
                .expect("patch cords")
                .machine_checkable()
        );
        assert!(cat.for_system(System::Bus).all(|c| c.binds(System::Bus)));
        assert!(cat.for_system(System::Ugem).any(|c| c.id == "ureq-128.6"));
        assert!(cat.for_system(System::Ugia).any(|c| c.id == "ureq-128.6"));
    }

    #[test]
    fn small_catalogue_loads_in_file_order() {
        let cat = parse(GOOD).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = cat.clauses().iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["ugia-1", "ugia-1.paper", "eint-2"]);
        assert_eq!(
            cat.documents()
                .iter()
                .map(|d| d.key.as_str())
                .collect::<Vec<_>>(),
            ["doc-a", "doc-b"]
        );
        assert!(cat.document("doc-a").expect("doc-a").english_translation);
        assert!(!cat.document("doc-b").expect("doc-b").english_translation);
        let ugia: Vec<&str> = cat
            .for_system(System::Ugia)
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(ugia, ["ugia-1", "ugia-1.paper", "eint-2"]);
        assert_eq!(cat.for_system(System::Ugem).count(), 0);
        let c = cat.get("ugia-1").expect("ugia-1");
        assert_eq!(c.primary_kind(), ClauseKind::Network);
        assert_eq!(c.text_en.as_deref(), Some("english"));
        let ids: Vec<&str> = c.obligations.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["answered-in-time", "in-force"]);
        assert_eq!(c.obligations[1].kind, ClauseKind::Network);
        assert!(cat.obligation("ugia-1", "in-force").is_some());
        assert!(cat.obligation("ugia-1", "nope").is_none());
        assert!(
            cat.get("ugia-1.paper")
                .expect("paper")
                .obligations
                .is_empty()
        );
        assert!(!cat.get("ugia-1.paper").expect("paper").machine_checkable());
        assert!(cat.get("nope").is_none());
    }

    #[test]
    fn wrong_type_names_origin_line_column_and_field() {
        let bad = GOOD.replace("number = \"2\"", "number = 2");
        let err = parse(&bad).unwrap_err();
        let line = line_of(&bad, "number = 2");
        assert_eq!(err.location().origin, "test.toml");
        assert_eq!(err.location().line, line);
        assert_eq!(err.location().column, 10);
        assert_eq!(err.field(), Some("number"));
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!(
                "test.toml:{line}:10: clause `eint-2`, field `number`: "
            )),
            "{shown}"
        );
        assert!(shown.contains("expected a string"), "{shown}");
    }

    #[test]
    fn unknown_word_names_the_field_and_the_expected_words() {
        let bad = GOOD.replace("kinds = [\"form\"]", "kinds = [\"forms\"]");
        let err = parse(&bad).unwrap_err();
        assert_eq!(err.location().line, line_of(&bad, "kinds = [\"forms\"]"));
        assert_eq!(err.field(), Some("kinds"));
        let shown = err.to_string();
        assert!(
            shown.contains("forms") && shown.contains("not-machine-checkable"),
            "{shown}"
        );
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let bad = GOOD.replace("check = \"C\"\ntext_kk = \"мәтін\"", "text_kk = \"мәтін\"");
        let err = parse(&bad).unwrap_err();
        assert_eq!(err.field(), Some("check"));
        assert!(err.to_string().contains("clause `eint-2`"), "{err}");
        assert!(err.to_string().contains("missing"), "{err}");

        let bad = GOOD.replace(
            "summary = \"S\"\ncheck = \"C\"\ntext_kk = \"мәтін\"",
            "sumary = \"S\"\ncheck = \"C\"\ntext_kk = \"мәтін\"",
        );
        let err = parse(&bad).unwrap_err();
        assert_eq!(err.field(), Some("sumary"));
        assert_eq!(err.location().line, line_of(&bad, "sumary"));
        assert!(err.to_string().contains("expected"), "{err}");
    }

    #[test]
    fn syntax_error_names_origin_and_line() {
        let bad = GOOD.replace(
            "summary = \"S\"\ncheck = \"C\"\ntext_kk = \"мәтін\"",
            "summary = \"S\ncheck = \"C\"\ntext_kk = \"мәтін\"",
        );
        let err = parse(&bad).unwrap_err();
        assert!(matches!(err, CatalogueError::Parse { .. }));
        assert_eq!(err.location().line, line_of(&bad, "summary = \"S\ncheck"));
        assert!(err.to_string().starts_with("test.toml:"), "{err}");
    }

    #[test]
    fn citations_expand_act_registration_appendix_and_clause() {
        let cat = parse(GOOD).unwrap_or_else(|e| panic!("{e}"));
        let paper = cat.citation(cat.get("ugia-1.paper").expect("paper"));
        assert_eq!(
            paper.to_string(),
            "Order No. 1 of 2020-01-02 (registered with the Ministry of Justice on 2020-01-05 under No. 123), Appendix 1 (Rules of the gateway), Appendix 1"
        );
        let eint = cat.citation(cat.get("eint-2").expect("eint-2"));
        assert_eq!(eint.clause, "clause 2");
        assert_eq!(eint.appendix, None);
        assert!(eint.registration.starts_with("not registered"), "{eint:?}");

        // The standard catalogue: clause 6 of two different appendices of one order.
        let std = Catalogue::standard();
        let ugia6 = std.citation(std.get("ugia-6").expect("ugia-6")).to_string();
        let ugem6 = std.citation(std.get("ugem-6").expect("ugem-6")).to_string();
        assert!(
            ugia6.contains("No. 21436") && ugia6.contains("Appendix 1 (Rules for functioning of the Unified Internet Access Gateway), clause 6"),
            "{ugia6}"
        );
        assert!(
            ugem6.contains("Appendix 2 (Rules for functioning of the Unified E-mail Gateway of e-government), clause 6"),
            "{ugem6}"
        );
        let app3 = std
            .citation(std.get("eint-app3").expect("eint-app3"))
            .to_string();
        assert!(
            app3.contains("No. 33737")
                && app3.contains("Appendix 1 (new wording of Appendix 3 to the Rules"),
            "{app3}"
        );
    }

    #[test]
    fn duplicate_id_is_refused_naming_both() {
        let bad = GOOD.replace("id = \"eint-2\"", "id = \"ugia-1\"");
        let err = parse(&bad).unwrap_err();
        let CatalogueError::DuplicateId { id, first, at } = &err else {
            panic!("{err}")
        };
        assert_eq!(id, "ugia-1");
        assert_eq!(first.line, line_of(GOOD, "id = \"ugia-1\""));
        assert_eq!(at.line, line_of(GOOD, "id = \"eint-2\""));
        let shown = err.to_string();
        assert!(
            shown.contains(&format!("test.toml:{}:", first.line))
                && shown.contains(&format!("test.toml:{}:", at.line)),
            "{shown}"
        );
    }

    #[test]
    fn catalogue_rules_are_enforced() {
        let cases = [
            ("document = \"doc-b\"", "document = \"doc-c\"", "document"),
            ("systems = [\"bus\", \"ugia\"]", "systems = []", "systems"),
            (
                "systems = [\"bus\", \"ugia\"]",
                "systems = [\"bus\", \"bus\"]",
                "systems",
            ),
            (
                "kinds = [\"not-machine-checkable\"]",
                "kinds = [\"not-machine-checkable\", \"form\"]",
                "kinds",
            ),
            ("text_kk = \"мәтін\"", "text_kk = \"  \"", "text_kk"),
            (
                "text_kk = \"мәтін\"",
                "text_kk = \"мәтін\"\ntext_en = \"text\"",
                "text_en",
            ),
            ("text_en = \"signature\"\n", "", "text_en"),
            ("id = \"eint-2\"", "id = \"Eint 2\"", "id"),
            ("date = \"2021-03-04\"", "date = \"4 March 2021\"", "date"),
            ("text_en_ours = \"text\"\n", "", "text_en_ours"),
            (
                "text_en = \"english\"\n",
                "text_en = \"english\"\ntext_en_ours = \"ours\"\n",
                "text_en_ours",
            ),
            ("appendix = 1", "appendix = 3", "appendix"),
            ("appendix = 1", "appendix = 0", "appendix"),
            (
                "registration_date = \"2020-01-05\"\n",
                "",
                "registration_date",
            ),
            (
                "registration_date = \"2020-01-05\"",
                "registration_date = \"5.1.2020\"",
                "registration_date",
            ),
            (
                "appendices = [\"Rules of the gateway\",",
                "appendices = [\" \",",
                "appendices",
            ),
            (
                "obligations = [{ id = \"deficient-never-granted\", kind = \"form\", text = \"T\" }]\n",
                "",
                "obligations",
            ),
            (
                "{ id = \"deficient-never-granted\", kind = \"form\", text = \"T\" }",
                "{ id = \"deficient-never-granted\", kind = \"network\", text = \"T\" }",
                "obligations",
            ),
            (
                "{ id = \"deficient-never-granted\", kind = \"form\", text = \"T\" }",
                "{ id = \"x\", kind = \"form\", text = \"T\" }, { id = \"x\", kind = \"form\", text = \"U\" }",
                "obligations",
            ),
            (
                "{ id = \"deficient-never-granted\", kind = \"form\", text = \"T\" }",
                "{ id = \"Bad Id\", kind = \"form\", text = \"T\" }",
                "obligations",
            ),
            (
                "{ id = \"deficient-never-granted\", kind = \"form\", text = \"T\" }",
                "{ id = \"paper\", kind = \"not-machine-checkable\", text = \"T\" }",
                "obligations",
            ),
            (
                "{ id = \"deficient-never-granted\", kind = \"form\", text = \"T\" }",
                "{ id = \"d\", kind = \"form\", text = \"T\", not_judged_because = \" \" }",
                "obligations",
            ),
        ];
        for (from, to, field) in cases {
            assert!(GOOD.contains(from), "{from}");
            let bad = GOOD.replacen(from, to, 1);
            let err = parse(&bad).unwrap_err();
            assert!(
                matches!(err, CatalogueError::Invalid { .. }),
                "{from} -> {to}: {err}"
            );
            assert_eq!(err.field(), Some(field), "{from} -> {to}: {err}");
            assert_eq!(err.location().origin, "test.toml");
            assert!(err.location().line > 1, "{err}");
        }
    }

    #[test]
    fn words_round_trip() {
        for s in System::ALL {
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(s.as_str().parse::<System>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).expect("json"), format!("\"{s}\""));
        }
        for k in ClauseKind::ALL {
            assert_eq!(k.to_string(), k.as_str());
            assert_eq!(k.as_str().parse::<ClauseKind>(), Ok(k));
            assert_eq!(serde_json::to_string(&k).expect("json"), format!("\"{k}\""));
        }
        assert_eq!(
            ClauseKind::NotMachineCheckable.as_str(),
            "not-machine-checkable"
        );
        assert!("Bus".parse::<System>().is_err());
    }
}
