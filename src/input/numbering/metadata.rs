//! libphonenumber's metadata as the fast path reads it: a copy of the pinned `phonenumber`
//! crate's, in `regions.tsv`.
//!
//! The crate's own database checks the syntax of every pattern of every region when it is
//! first touched (about 630 million instructions, 0.15–0.2 s): a fixed cost that was a fifth
//! of a million-row preflight whose numbers never needed the crate. With this copy the crate
//! loads only when a number takes its path. The test below holds the copy to the crate's
//! database (a new crate release fails it; `UPDATE_PHONE_METADATA=1` rewrites the copy).
//!
//! One line per region, ordered by calling code and, within one, in the crate's order (its
//! main country first); tab-separated: the ISO code (`001` for a non-geographic entity), the
//! calling code, the national prefix, the international prefix, the national prefix for
//! parsing, the leading digits, then the general descriptor (pattern, possible lengths,
//! possible local lengths) and each of [`TYPES`] (pattern, possible lengths); lengths are
//! comma-separated, an absent value or descriptor is empty. Patterns are kept without their
//! whitespace, which the crate's (and the fast path's) verbose mode ignores: the test checks
//! that none holds a comment or an escaped space, the only places where it would count.

const REGIONS: &str = include_str!("metadata/regions.tsv");

/// The types `number_type` tries, in the copy's order: any valid type will do, so the common
/// ones go first.
const TYPES: [&str; 10] = [
    "mobile",
    "fixed_line",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
];

/// One region's metadata: the parts [`super`] replays.
#[derive(Debug)]
pub(super) struct Meta {
    pub id: &'static str,
    pub national_prefix: Option<&'static str>,
    pub international_prefix: Option<&'static str>,
    pub national_prefix_for_parsing: Option<&'static str>,
    pub leading_digits: Option<&'static str>,
    pub general: Desc,
    /// Descriptors of [`TYPES`], in order.
    pub types: Vec<Option<Desc>>,
}

/// A descriptor: a pattern of national numbers and the lengths they may have.
#[derive(Debug)]
pub(super) struct Desc {
    pub pattern: &'static str,
    pub lengths: Vec<u16>,
    /// Lengths dialled without the area code (kept for the general descriptor only).
    pub local_lengths: Vec<u16>,
}

/// The regions of calling code `code`, main country first (none: not a calling code).
pub(super) fn by_code(code: u16) -> Vec<Meta> {
    let code = code.to_string();
    lines()
        .filter(|fields| fields[1] == code)
        .map(|fields| parse(&fields))
        .collect()
}

/// The calling code of the region with ISO code `id`.
pub(super) fn code_of(id: &str) -> Option<u16> {
    lines()
        .find(|fields| fields[0] == id)
        .and_then(|fields| fields[1].parse().ok())
}

/// Each line's fields.
fn lines() -> impl Iterator<Item = Vec<&'static str>> {
    REGIONS.lines().map(|line| line.split('\t').collect())
}

fn parse(fields: &[&'static str]) -> Meta {
    let text = |i: usize| Some(fields[i]).filter(|f| !f.is_empty());
    let lengths = |i: usize| -> Vec<u16> {
        fields[i]
            .split(',')
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    let desc = |i: usize, local: Vec<u16>| {
        text(i).map(|pattern| Desc {
            pattern,
            lengths: lengths(i + 1),
            local_lengths: local,
        })
    };
    Meta {
        id: fields[0],
        national_prefix: text(2),
        international_prefix: text(3),
        national_prefix_for_parsing: text(4),
        leading_digits: text(5),
        general: desc(6, lengths(8)).unwrap_or(Desc {
            pattern: "",
            lengths: Vec::new(),
            local_lengths: Vec::new(),
        }),
        types: (0..TYPES.len())
            .map(|t| desc(9 + 2 * t, Vec::new()))
            .collect(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use phonenumber::Metadata;
    use phonenumber::metadata::{DATABASE, Descriptor};

    /// The crate's descriptors in [`super::TYPES`]' order.
    pub(crate) fn crate_types(meta: &Metadata) -> [Option<&Descriptor>; 10] {
        let d = meta.descriptors();
        [
            d.mobile(),
            d.fixed_line(),
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
    }

    /// A value of the copy: a pattern without whitespace, which must then mean the same.
    fn compact(value: Option<&str>) -> String {
        let value = value.unwrap_or("");
        assert!(
            !value.contains('#') && !value.contains("\\ ") && !value.contains("\\\n"),
            "{value:?}: its whitespace may count"
        );
        let compact: String = value.split_whitespace().collect();
        assert!(value.is_empty() || !compact.is_empty(), "{value:?}");
        compact
    }

    fn lengths(lengths: &[u16]) -> String {
        let lengths: Vec<String> = lengths.iter().map(u16::to_string).collect();
        lengths.join(",")
    }

    /// `regions.tsv` as the crate's database gives it.
    fn render() -> String {
        let mut codes: Vec<u16> = DATABASE.iter().map(Metadata::country_code).collect();
        codes.sort_unstable();
        codes.dedup();
        let mut out = String::new();
        for code in codes {
            for id in DATABASE.region(&code).unwrap() {
                let m = DATABASE.by_id(id).unwrap();
                let general = m.descriptors().general();
                let mut fields = vec![
                    id.to_owned(),
                    code.to_string(),
                    compact(m.national_prefix()),
                    compact(m.international_prefix().map(|r| r.as_str())),
                    compact(m.national_prefix_for_parsing().map(|r| r.as_str())),
                    compact(m.leading_digits().map(|r| r.as_str())),
                    compact(Some(general.national_number().as_str())),
                    lengths(general.possible_length()),
                    lengths(general.possible_local_length()),
                ];
                for d in crate_types(m) {
                    fields.push(compact(d.map(|d| d.national_number().as_str())));
                    fields.push(d.map_or_else(String::new, |d| lengths(d.possible_length())));
                }
                out.push_str(&fields.join("\t"));
                out.push('\n');
            }
        }
        out
    }

    #[test]
    fn the_copy_is_the_crates_metadata() {
        let want = render();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/input/numbering/metadata/regions.tsv"
        );
        if std::env::var_os("UPDATE_PHONE_METADATA").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        assert!(
            super::REGIONS == want,
            "{path} differs from the phonenumber crate's metadata: rerun with UPDATE_PHONE_METADATA=1"
        );
        let br = super::by_code(55);
        assert_eq!(br.len(), 1);
        assert_eq!((br[0].id, br[0].national_prefix), ("BR", Some("0")));
        let crate_br = DATABASE.by_id("BR").unwrap().descriptors();
        assert_eq!(br[0].general.lengths, crate_br.general().possible_length());
        let mobile = br[0].types[0].as_ref().unwrap();
        assert_eq!(mobile.lengths, crate_br.mobile().unwrap().possible_length());
        assert_eq!(super::code_of("PT"), Some(351));
        assert!(super::by_code(999).is_empty());
    }
}
