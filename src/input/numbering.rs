//! The fast path of phone normalization: libphonenumber's metadata, as the `phonenumber`
//! crate ships it, compiled once per calling code into anchored automata.
//!
//! `phonenumber::parse` + `is_valid` + E.164 formatting cost microseconds a number (a nom
//! parser, then every regex looked up by its text in a locked LRU cache), which was most of a
//! preflight. For the digit strings spreadsheets hold, this module replays the same steps
//! over the same metadata, and answers only when each step is one it can replay exactly: no
//! international (IDD) prefix, no national prefix or carrier code to strip, no leading zero
//! kept in the national number, no non-geographic code. Anything else is [`Check::Unsure`]
//! and goes to the crate. `phone.rs`'s differential test holds the two to the same verdicts.

mod metadata;

use std::sync::OnceLock;

use metadata::{Desc, Meta};
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::util::{primitives::StateID, start, syntax};
use regex_automata::{Anchored, MatchKind, nfa::thompson};

#[cfg(test)]
pub(crate) use metadata::tests::crate_types;

/// What the replay of `parse` + `is_valid` found for one digit string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check<'d> {
    /// The crate would parse it and call it valid: its E.164 form is `+`, the calling code,
    /// then the national number (a part of the digits checked).
    Valid {
        code: &'static str,
        national: &'d str,
    },
    /// The crate would not return a valid number (a parse error or `is_valid` false).
    Invalid,
    /// A step this module does not replay: ask the crate.
    Unsure,
}

impl Check<'_> {
    /// For a valid number, writes its E.164 form into `out` (a string to fill again:
    /// a preflight would otherwise allocate one a row) and says so.
    pub(crate) fn write_e164(&self, out: &mut String) -> bool {
        let Check::Valid { code, national } = self else {
            return false;
        };
        out.clear();
        out.extend(["+", code, national]);
        true
    }
}

/// The home country (`--default-country`) with its calling code, compiled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Home {
    code: &'static CallingCode,
    region: &'static Region,
}

impl Home {
    /// `None` when the country's metadata cannot be replayed (then every number takes the
    /// crate's path).
    pub(crate) fn new(id: &str) -> Option<Home> {
        let code = calling_code(metadata::code_of(id)?)?;
        let region = code.regions.as_ref()?.iter().find(|r| r.meta.id == id)?;
        Some(Home { code, region })
    }

    /// `parse(Some(home), digits)` then `is_valid`, for digits written without `+`.
    pub(crate) fn national<'d>(&self, digits: &'d str) -> Check<'d> {
        if !plain_digits(digits) {
            return Check::Unsure;
        }
        let region = self.region;
        // country_code(): an international prefix (`00…`, `011…`) is stripped first.
        if region
            .international_prefix
            .as_ref()
            .is_some_and(|re| re.is_match(digits))
        {
            return Check::Unsure;
        }
        // Then a leading country code is dropped when the whole is no national number.
        let code = &self.code.text;
        let national = match digits.strip_prefix(code.as_str()) {
            Some(rest)
                if !region.general.is_match(digits)
                    || !possible_length(&region.meta, digits.len()) =>
            {
                rest
            }
            _ => digits,
        };
        self.code.judge(region, national)
    }
}

/// `parse(None, "+digits")` then `is_valid`, for the digits after a `+`.
pub(crate) fn international(digits: &str) -> Check<'_> {
    if !plain_digits(digits) || digits.starts_with('0') {
        return Check::Unsure;
    }
    // The first 1-, 2- or 3-digit prefix that is a calling code (all ASCII digits, above).
    let mut prefix = 0;
    let Some((code, national)) = digits.bytes().take(3).enumerate().find_map(|(i, digit)| {
        prefix = prefix * 10 + u16::from(digit - b'0');
        Some((calling_code(prefix)?, &digits[i + 1..]))
    }) else {
        return Check::Unsure;
    };
    let Some(regions) = &code.regions else {
        return Check::Unsure;
    };
    if national.starts_with('0') {
        return Check::Unsure; // the crate finds the region without the zeros, then keeps them
    }
    // Without a default country, the prefixes stripped are those of the number's region.
    match code.source_for(regions, national) {
        Some(region) => code.judge(region, national),
        None => Check::Invalid,
    }
}

/// ASCII digits only, of a length every step below handles without special cases.
fn plain_digits(s: &str) -> bool {
    (4..=17).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// `validator::length(meta, n, Type::Unknown).is_possible()`.
fn possible_length(meta: &Meta, len: usize) -> bool {
    let general = &meta.general;
    let len = len as u16;
    !general.lengths.is_empty()
        && (general.local_lengths.contains(&len) || general.lengths.contains(&len))
}

/// Every region sharing one calling code, in the crate's order (main country first).
#[derive(Debug)]
struct CallingCode {
    text: String,
    /// `None`: a non-geographic code (`001`) or metadata that did not compile.
    regions: Option<Vec<Region>>,
}

/// One entry per possible calling code; built on first use.
static CODES: [OnceLock<Option<CallingCode>>; 1000] = [const { OnceLock::new() }; 1000];

/// The compiled calling code, or `None` when it is not one (`database.by_code` is `None`).
fn calling_code(code: u16) -> Option<&'static CallingCode> {
    CODES
        .get(usize::from(code))?
        .get_or_init(|| {
            let metas = metadata::by_code(code);
            if metas.is_empty() {
                return None;
            }
            let regions = if metas.iter().any(|m| m.id == "001") {
                None
            } else {
                metas.into_iter().map(Region::new).collect()
            };
            Some(CallingCode {
                text: code.to_string(),
                regions,
            })
        })
        .as_ref()
}

impl CallingCode {
    /// The rest of `parse` and `is_valid` once the national number is known: the national
    /// prefix and carrier code `region` would strip (none, or unsure), the length limits,
    /// then whether the number's own region has a type for it.
    fn judge<'d>(&'static self, region: &Region, national: &'d str) -> Check<'d> {
        let Some(regions) = &self.regions else {
            return Check::Unsure;
        };
        let strips = region
            .national_prefix_for_parsing
            .as_ref()
            .is_some_and(|re| re.is_match(national))
            || region
                .meta
                .national_prefix
                .is_some_and(|p| national.starts_with(p));
        // Over 15 digits the crate's NationalNumber may refuse it; a leading 0 is kept
        // apart as "zeros": both left to the crate.
        if strips || !(2..=15).contains(&national.len()) || national.starts_with('0') {
            return Check::Unsure;
        }
        match self.source_for(regions, national) {
            // A whole match is a prefix match too: the crate's verdict and the whole one.
            Some(own) => match own.has_type(national, Match::Whole) {
                Some(true) => Check::Valid {
                    code: &self.text,
                    national,
                },
                Some(false) => Check::Invalid,
                None => Check::Unsure,
            },
            None => Check::Invalid,
        }
    }

    /// `validator::source_for`: the region whose leading digits match, or (without leading
    /// digits) whose patterns know the number.
    fn source_for<'r>(&self, regions: &'r [Region], national: &str) -> Option<&'r Region> {
        if let [only] = regions {
            return Some(only);
        }
        regions.iter().find(|r| match &r.leading_digits {
            Some(re) => re.is_match(national),
            None => r.has_type(national, Match::Prefix) == Some(true),
        })
    }
}

/// One region's metadata, compiled.
#[derive(Debug)]
struct Region {
    meta: Meta,
    general: Pattern,
    leading_digits: Option<Prefix>,
    national_prefix_for_parsing: Option<Prefix>,
    international_prefix: Option<Prefix>,
    /// The per-type patterns, compiled when a number first needs them (a calling code like
    /// +1 has 25 regions, most never asked about).
    types: OnceLock<Option<Vec<Pattern>>>,
}

impl Region {
    fn new(meta: Meta) -> Option<Region> {
        let optional = |re: Option<&str>| match re {
            Some(re) => Prefix::new(re).map(Some),
            None => Some(None),
        };
        Some(Region {
            general: Pattern::new(&meta.general)?,
            leading_digits: optional(meta.leading_digits)?,
            national_prefix_for_parsing: optional(meta.national_prefix_for_parsing)?,
            international_prefix: optional(meta.international_prefix)?,
            types: OnceLock::new(),
            meta,
        })
    }

    /// `number_type(meta, n) != Type::Unknown`; `None` if a pattern did not compile. The
    /// crate (replayed with `Match::Prefix`) accepts a pattern that matches only a prefix,
    /// then checks the length against every length the type allows, so a landline with
    /// digits appended passes (+972 3-123-4567 then 890); libphonenumber itself asks for a
    /// match of the whole number (`Match::Whole`), and a number is valid here only if both
    /// agree (see [`is_complete`]).
    fn has_type(&self, national: &str, how: Match) -> Option<bool> {
        let matches = |p: &Pattern| match how {
            Match::Prefix => p.is_match(national),
            Match::Whole => p.is_whole_match(national),
        };
        if !matches(&self.general) {
            return Some(false);
        }
        let types = self
            .types
            .get_or_init(|| self.meta.types.iter().flatten().map(Pattern::new).collect())
            .as_ref()?;
        Some(types.iter().any(matches))
    }
}

/// How a pattern must match a national number: as the crate matches it, or whole.
#[derive(Debug, Clone, Copy)]
enum Match {
    Prefix,
    Whole,
}

/// Whether the national number `national` of region `id` (calling code `code`) matches one
/// of its types whole (see [`Region::has_type`]): the check the crate's path adds to
/// `is_valid`, so both paths give one verdict. True when the region's metadata cannot be
/// replayed.
pub(crate) fn is_complete(code: u16, id: &str, national: &str) -> bool {
    let region = (calling_code(code).and_then(|code| code.regions.as_ref()))
        .and_then(|regions| regions.iter().find(|r| r.meta.id == id));
    region.is_none_or(|region| region.has_type(national, Match::Whole) != Some(false))
}

/// A descriptor: the lengths and the pattern of valid national numbers of one type.
#[derive(Debug)]
struct Pattern {
    lengths: Vec<u16>,
    re: Prefix,
}

impl Pattern {
    fn new(d: &Desc) -> Option<Pattern> {
        Some(Pattern {
            lengths: d.lengths.clone(),
            re: Prefix::new(d.pattern)?,
        })
    }

    /// `Descriptor::is_match`: a listed length, and a match starting at the first digit.
    fn is_match(&self, national: &str) -> bool {
        self.has_length(national) && self.re.is_match(national)
    }

    /// A listed length, and a match of the whole number.
    fn is_whole_match(&self, national: &str) -> bool {
        self.has_length(national) && self.re.is_whole_match(national)
    }

    fn has_length(&self, national: &str) -> bool {
        self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16))
    }
}

/// The crate's `find(n).start() == 0`: whether some prefix of a number matches a pattern,
/// compiled with the crate's flag (whitespace ignored; the newline ends a trailing comment,
/// if any). Only ASCII digits are ever matched, so `\d` can be ASCII: the automaton is far
/// smaller and quicker to build. A pattern that needs Unicode, or whose automaton would be
/// too large, fails to compile and leaves its region to the crate.
///
/// A dense DFA built once and walked byte by byte: the `regex` crate's matcher costs a few
/// hundred instructions a call for its general machinery (strategy, cache pool, search
/// set-up), several times the walk over a dozen digits, and a number takes three or four.
#[derive(Debug)]
struct Prefix {
    dfa: dense::DFA<Vec<u32>>,
    /// The state an anchored search starts in.
    start: StateID,
}

impl Prefix {
    /// Bounds as the `regex` crate's (its default NFA limit), and on the DFA itself.
    const NFA_LIMIT: usize = 10 << 20;
    const DFA_LIMIT: usize = 4 << 20;

    fn new(source: &str) -> Option<Prefix> {
        let dfa = dense::Builder::new()
            .syntax(syntax::Config::new().ignore_whitespace(true).unicode(false))
            .thompson(thompson::Config::new().nfa_size_limit(Some(Self::NFA_LIMIT)))
            .configure(
                // Every match, not the leftmost-first one: under that, a pattern's first
                // alternative that matches ends the automaton before a later one could
                // match the whole number (`1|12` on `12`).
                dense::Config::new()
                    .match_kind(MatchKind::All)
                    .start_kind(StartKind::Anchored)
                    .dfa_size_limit(Some(Self::DFA_LIMIT))
                    .determinize_size_limit(Some(Self::DFA_LIMIT)),
            )
            .build(&format!("(?:{source}\n)"))
            .ok()?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .ok()?;
        Some(Prefix { dfa, start })
    }

    /// Whether a prefix of `s` matches: a match state reached on the way (a DFA reports a
    /// match one byte late, or at the end of the input), else none.
    fn is_match(&self, s: &str) -> bool {
        let dfa = &self.dfa;
        let mut state = self.start;
        for &b in s.as_bytes() {
            state = dfa.next_state(state, b);
            if dfa.is_special_state(state) {
                if dfa.is_match_state(state) {
                    return true;
                }
                // No quit bytes are configured: the other special states are dead ones
                // (no match can follow) and accelerated ones (walked like any other).
                if dfa.is_dead_state(state) {
                    return false;
                }
            }
        }
        dfa.is_match_state(dfa.next_eoi_state(state))
    }

    /// Whether the whole of `s` matches: the end of the input reached in a match.
    fn is_whole_match(&self, s: &str) -> bool {
        let dfa = &self.dfa;
        let mut state = self.start;
        for &b in s.as_bytes() {
            state = dfa.next_state(state, b);
            if dfa.is_dead_state(state) {
                return false;
            }
        }
        dfa.is_match_state(dfa.next_eoi_state(state))
    }
}
