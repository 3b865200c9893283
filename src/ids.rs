//! Ids the user types (clauses, defects, scenarios): matched without regard to case, and a
//! near miss answered with the closest known id.

/// The known id that `given` names: the exact id, else the one id equal to it when case is
/// ignored. An unknown id is an error that names what kind of id it is, suggests the nearest
/// known one and says where the list is (`see`).
pub fn resolve<'a>(
    kind: &str,
    given: &str,
    known: impl IntoIterator<Item = &'a str>,
    see: &str,
) -> Result<&'a str, String> {
    let known: Vec<&'a str> = known.into_iter().collect();
    if let Some(exact) = known.iter().find(|k| **k == given) {
        return Ok(exact);
    }
    let folded = given.to_lowercase();
    let same: Vec<&'a str> = known
        .iter()
        .copied()
        .filter(|k| k.to_lowercase() == folded)
        .collect();
    match same.as_slice() {
        [one] => Ok(one),
        [] => Err(match suggest(given, &known) {
            Some(near) => format!("no {kind} `{given}`; did you mean `{near}`? (see {see})"),
            None => format!("no {kind} `{given}` (see {see})"),
        }),
        several => Err(format!(
            "{kind} `{given}` is ambiguous when case is ignored: {}; write it exactly",
            several.join(", ")
        )),
    }
}

/// The known id closest to `given` by edit distance (case ignored), if it is near enough to
/// be a typo: at most a third of the id's length, and never more than 3 edits.
pub fn suggest<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    let g = given.to_lowercase();
    let limit = (g.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&g, &k.to_lowercase()), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, k)| (*d, *k))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["ugia-6", "ugia-16", "ugem-6", "ureq-134-1", "eint-45-11"];

    #[test]
    fn case_is_ignored() {
        assert_eq!(
            resolve("clause", "UGIA-6", KNOWN.iter().copied(), "x"),
            Ok("ugia-6")
        );
        assert_eq!(
            resolve("clause", "Ureq-134-1", KNOWN.iter().copied(), "x"),
            Ok("ureq-134-1")
        );
    }

    #[test]
    fn near_misses_get_a_suggestion_and_far_ones_none() {
        let e = resolve(
            "clause",
            "ugai-16",
            KNOWN.iter().copied(),
            "`qaqpa clauses`",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "no clause `ugai-16`; did you mean `ugia-16`? (see `qaqpa clauses`)"
        );
        let e = resolve(
            "clause",
            "eint-45-1",
            KNOWN.iter().copied(),
            "`qaqpa clauses`",
        )
        .unwrap_err();
        assert!(e.contains("did you mean `eint-45-11`"), "{e}");
        let e = resolve(
            "clause",
            "firewall",
            KNOWN.iter().copied(),
            "`qaqpa clauses`",
        )
        .unwrap_err();
        assert_eq!(e, "no clause `firewall` (see `qaqpa clauses`)");
    }

    #[test]
    fn an_exact_match_wins_and_a_case_tie_is_ambiguous() {
        let known = ["Alpha", "alpha", "ALPHA"];
        assert_eq!(resolve("scenario", "alpha", known, "x"), Ok("alpha"));
        let e = resolve("scenario", "aLpHa", known, "x").unwrap_err();
        assert!(
            e.contains("ambiguous") && e.contains("Alpha, alpha, ALPHA"),
            "{e}"
        );
    }
}
