//! The clause catalogue against its sources: every quote is verbatim from the seed texts, and
//! every clause identifier of `rules/CLAUSES.md` is catalogued.
//!
//! The shared material is read from `$QAQPA_SHARED` (with `seeds/` and `rules/` below it) when
//! that variable is set, else from `../../shared` next to the workspace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use qaqpa_reports::catalogue::{Catalogue, Clause};

fn shared_dir() -> PathBuf {
    qaqpa_sim::shared::dir()
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (set QAQPA_SHARED to the directory holding seeds/ and rules/)",
            path.display()
        )
    })
}

/// Seed file name → text, for every seed the catalogue cites.
fn seeds(cat: &Catalogue) -> BTreeMap<String, String> {
    let dir = shared_dir().join("seeds");
    cat.documents()
        .iter()
        .map(|d| (d.seed_file.clone(), read(dir.join(&d.seed_file))))
        .collect()
}

/// Where a quote stops matching its seed, for a useful failure message.
fn divergence(quote: &str, seed: &str) -> String {
    let bounds: Vec<usize> = quote
        .char_indices()
        .map(|(i, _)| i)
        .chain([quote.len()])
        .collect();
    // The longest prefix (on a char boundary) found in the seed; found-ness is monotone.
    let (mut lo, mut hi) = (0, bounds.len() - 1);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if seed.contains(&quote[..bounds[mid]]) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let at = bounds[lo];
    let next: String = quote[at..].chars().take(40).collect();
    format!("matches for {lo} chars, then diverges at {next:?}")
}

fn check_quote(
    problems: &mut Vec<String>,
    c: &Clause,
    field: &str,
    quote: &str,
    seed_file: &str,
    seed: &str,
) {
    if !seed.contains(quote) {
        problems.push(format!(
            "{}: {field} is not verbatim in {seed_file}: {}",
            c.id,
            divergence(quote, seed)
        ));
    }
    let footnote = ["Ескерту.", "Footnote."]
        .iter()
        .any(|f| quote.trim_start().starts_with(f));
    if footnote {
        problems.push(format!(
            "{}: {field} quotes an amendment footnote, not the clause",
            c.id
        ));
    }
}

#[test]
fn every_kazakh_quote_is_verbatim_in_its_seed() {
    let cat = Catalogue::standard();
    let seeds = seeds(cat);
    let mut problems = Vec::new();
    for c in cat.clauses() {
        let doc = cat.document(&c.document).expect("loader checks documents");
        check_quote(
            &mut problems,
            c,
            "text_kk",
            &c.text_kk,
            &doc.seed_file,
            &seeds[&doc.seed_file],
        );
    }
    assert!(
        problems.is_empty(),
        "{} quote problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_english_quote_is_verbatim_in_the_translation() {
    let cat = Catalogue::standard();
    let seeds = seeds(cat);
    let mut problems = Vec::new();
    let mut quoted = 0;
    for c in cat.clauses() {
        let doc = cat.document(&c.document).expect("loader checks documents");
        match (&c.text_en, doc.english_translation) {
            (Some(en), true) => {
                quoted += 1;
                check_quote(
                    &mut problems,
                    c,
                    "text_en",
                    en,
                    &doc.seed_file,
                    &seeds[&doc.seed_file],
                );
            }
            (None, false) => {}
            _ => problems.push(format!(
                "{}: text_en presence does not match document {}",
                c.id, doc.key
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "{} quote problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    // Seed 000 carries the translation: every ugia and ugem clause quotes it.
    let from_000 = cat
        .clauses()
        .iter()
        .filter(|c| c.id.starts_with("ugia-") || c.id.starts_with("ugem-"))
        .count();
    assert_eq!(quoted, from_000);
}

/// The digit runs of a text, ignoring translator's notes in [square brackets].
fn numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut run = String::new();
    for ch in text.chars() {
        match ch {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth == 0 && ch.is_ascii_digit() {
            run.push(ch);
        } else if !run.is_empty() {
            out.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        out.push(run);
    }
    out.sort();
    out
}

/// Words of two or more Latin letters (XSD, VPN, UTC, kz, ...): terms a translation keeps.
fn latin_terms(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 2)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_clause_without_a_published_translation_has_ours() {
    let cat = Catalogue::standard();
    let mut problems = Vec::new();
    let mut ours = 0;
    for c in cat.clauses() {
        let doc = cat.document(&c.document).expect("loader checks documents");
        match (&c.text_en_ours, &c.text_en) {
            (Some(_), None) if !doc.english_translation => ours += 1,
            (None, Some(_)) if doc.english_translation => {}
            _ => problems.push(format!(
                "{}: expected exactly one English text: text_en for a document with a translation, text_en_ours otherwise",
                c.id
            )),
        }
        let Some(en) = &c.text_en_ours else { continue };
        // A translation keeps every number (deadlines, items, clause references) and every
        // Latin-script term of the Kazakh text: a dropped "3 (үш)" would change the law.
        if numbers(&c.text_kk) != numbers(en) {
            problems.push(format!(
                "{}: numbers differ: kk {:?}, en {:?}",
                c.id,
                numbers(&c.text_kk),
                numbers(en)
            ));
        }
        let missing: Vec<String> = latin_terms(&c.text_kk)
            .into_iter()
            .filter(|t| !en.contains(t.as_str()))
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{}: terms missing from the translation: {missing:?}",
                c.id
            ));
        }
        // Cyrillic stays only in the names the rules give in Kazakh (ЭҮШ, ЭҮСШ, the .ҚАЗ
        // domain) and in the seed's misprinted item letter "б)" of 128 6).
        let cyrillic: Vec<&str> = en
            .split(|ch: char| !ch.is_alphabetic())
            .filter(|w| w.chars().any(|ch| ('\u{0400}'..='\u{04FF}').contains(&ch)))
            .filter(|w| !["ЭҮШ", "ЭҮСШ", "ҚАЗ", "б"].contains(w))
            .collect();
        if !cyrillic.is_empty() {
            problems.push(format!("{}: untranslated words: {cyrillic:?}", c.id));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    // Every eint and ureq clause: order 603 and decree 12 have no English text of their own.
    let expected = cat
        .clauses()
        .iter()
        .filter(|c| c.id.starts_with("eint-") || c.id.starts_with("ureq-"))
        .count();
    assert_eq!(ours, expected);
    assert!(expected > 40, "{expected}");
}

#[test]
fn translation_checks_can_fail() {
    assert_eq!(numbers("45-10. ... 3 (үш) жұмыс"), ["10", "3", "45"]);
    assert_ne!(
        numbers("within 3 (three) working days"),
        numbers("within three working days")
    );
    assert_eq!(numbers("б) [sic: item 6)] text"), Vec::<String>::new());
    assert!(latin_terms("XSD сервистің файлдарын, XML").contains("XSD"));
}

#[test]
fn english_comes_from_seed_000() {
    let cat = Catalogue::standard();
    let translated: Vec<&str> = cat
        .documents()
        .iter()
        .filter(|d| d.english_translation)
        .map(|d| d.seed_file.as_str())
        .collect();
    assert_eq!(translated.len(), 1, "{translated:?}");
    assert!(translated[0].starts_with("000_"), "{translated:?}");
}

/// The first cells of the clause tables in CLAUSES.md, ranges expanded.
fn clauses_md_ids(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for line in text.lines() {
        let Some(row) = line.trim().strip_prefix('|') else {
            continue;
        };
        let cell = row.split('|').next().unwrap_or("").trim().trim_matches('`');
        if ["ugia-", "ugem-", "eint-", "ureq-"]
            .iter()
            .any(|p| cell.starts_with(p))
        {
            ids.extend(expand(cell));
        }
    }
    ids
}

/// "eint-45-8..45-11" → eint-45-8, eint-45-9, eint-45-10, eint-45-11; other ids as they are.
fn expand(cell: &str) -> Vec<String> {
    let Some((first, last)) = cell.split_once("..") else {
        return vec![cell.to_owned()];
    };
    let split = |s: &str| {
        let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (stem, n) = s.split_at(s.len() - digits);
        (
            stem.to_owned(),
            n.parse::<u32>()
                .unwrap_or_else(|_| panic!("bad range {cell:?}")),
        )
    };
    let (stem, from) = split(first);
    let (last_stem, to) = split(last);
    assert!(
        stem.ends_with(&last_stem) && from <= to,
        "bad range {cell:?}"
    );
    (from..=to).map(|n| format!("{stem}{n}")).collect()
}

#[test]
fn ranges_expand() {
    assert_eq!(
        expand("eint-45-8..45-11"),
        ["eint-45-8", "eint-45-9", "eint-45-10", "eint-45-11"]
    );
    assert_eq!(expand("eint-45-12..45-15").len(), 4);
    assert_eq!(expand("ureq-139.5-6"), ["ureq-139.5-6"]);
}

#[test]
fn every_clauses_md_id_is_catalogued_once() {
    let cat = Catalogue::standard();
    let md = read(shared_dir().join("rules/CLAUSES.md"));
    let listed = clauses_md_ids(&md);
    assert!(
        listed.len() > 80,
        "parsed only {} ids from CLAUSES.md",
        listed.len()
    );
    let listed_set: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    assert_eq!(
        listed_set.len(),
        listed.len(),
        "CLAUSES.md lists an id twice"
    );

    let mut seen = BTreeSet::new();
    let duplicated: Vec<&str> = cat
        .clauses()
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| !seen.insert(*id))
        .collect();
    assert!(duplicated.is_empty(), "duplicated ids: {duplicated:?}");

    let missing: Vec<&str> = listed_set
        .iter()
        .copied()
        .filter(|id| cat.get(id).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "ids of CLAUSES.md missing from the catalogue: {missing:?}"
    );

    // Entries beyond CLAUSES.md are the non-checkable parts split off a listed clause.
    for c in cat
        .clauses()
        .iter()
        .filter(|c| !listed_set.contains(c.id.as_str()))
    {
        let parent = listed_set
            .iter()
            .find(|p| c.id.starts_with(&format!("{p}.")));
        assert!(
            parent.is_some(),
            "{} is neither in CLAUSES.md nor a part of a listed clause",
            c.id
        );
        assert!(
            !c.machine_checkable(),
            "{} is an extra entry but machine-checkable",
            c.id
        );
    }
}
