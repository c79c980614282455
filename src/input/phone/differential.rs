//! The fast path ([`numbering`](crate::input::numbering)) against the `phonenumber` crate
//! alone: the same answer (E.164, or the same error text) for every cell of a corpus built
//! from the crate's own example numbers for every region, spreadsheet-style variants of them
//! (punctuation, leading 0, `00`/`011`/`810`/`119` prefixes, a country code without `+`, a digit short,
//! a digit or three long, a digit changed), generated Brazilian mobiles and landlines, US and
//! Portuguese numbers, and random digit strings, read with several default countries.

use phonenumber::metadata::DATABASE;

use super::Phones;
use crate::input::numbering::crate_types;

/// splitmix64: a reproducible corpus without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

/// Ways a spreadsheet writes national number `n` of calling code `code`.
fn variants(code: u16, n: &str, rng: &mut Rng, out: &mut Vec<String>) {
    let cut = n.len() / 2;
    let (a, b) = n.split_at(cut);
    let mut changed = n.as_bytes().to_vec();
    let at = rng.below(changed.len() as u64) as usize;
    changed[at] = b'0' + rng.below(10) as u8;
    let changed = String::from_utf8(changed).unwrap();
    out.extend([
        format!("+{code}{n}"),
        format!("+{code} ({a}) {b}"),
        format!("{code}{n}"),
        n.to_owned(),
        format!("{a}-{b}"),
        format!("0{n}"),
        format!("(0{a}) {b}"),
        format!("00{code}{n}"),
        format!("00 {code} {n}"),
        format!("011{code}{n}"),
        format!("810{code}{n}"),
        format!("119{code}{n}"),
        format!("+{code}0{n}"),
        format!("+{code}{}", &n[..n.len() - 1]),
        format!("+{code}{n}{}", rng.below(10)),
        format!("+{code}{n}{}", rng.digits(3)),
        n[..n.len() - 1].to_owned(),
        format!("{n}{}", rng.below(10)),
        format!("+{code}{changed}"),
        changed,
    ]);
}

/// Cells, each with the default country to read it in besides none.
type Corpus = Vec<(&'static str, String)>;

fn corpus() -> (Corpus, Corpus) {
    let mut rng = Rng(0x5EED);
    let mut cells = Vec::new();
    let mut add = |home: &'static str, code: u16, n: &str, rng: &mut Rng| {
        let mut spelled = Vec::new();
        variants(code, n, rng, &mut spelled);
        cells.extend(spelled.into_iter().map(|cell| (home, cell)));
    };
    for meta in DATABASE.iter() {
        // Non-geographic codes (`001`) have no country to read national numbers in.
        let home = match meta.id() {
            "001" => "BR",
            id => id,
        };
        let general = Some(meta.descriptors().general());
        let descriptors = std::iter::once(general).chain(crate_types(meta));
        for example in descriptors.flatten().filter_map(|d| d.example()) {
            add(home, meta.country_code(), example, &mut rng);
        }
    }
    // What campaigns hold: (country, national number) in the common spellings, each of
    // which the fast path must answer itself.
    let mut common = Vec::new();
    let pick = |rng: &mut Rng, from: &[&'static str]| from[rng.below(from.len() as u64) as usize];
    for _ in 0..100 {
        let area = pick(
            &mut rng,
            &["11", "19", "21", "27", "31", "41", "51", "61", "71", "85"],
        );
        let mobile = format!("{area}9{}", rng.digits(8));
        let landline = format!("{area}{}{}", 2 + rng.below(4), rng.digits(7));
        let npa = pick(
            &mut rng,
            &["202", "212", "305", "312", "415", "617", "702", "914"],
        );
        let us = format!("{npa}{}{}", 2 + rng.below(8), rng.digits(6));
        let pt_mobile = format!(
            "9{}{}",
            pick(&mut rng, &["1", "2", "3", "6"]),
            rng.digits(7)
        );
        let pt_fixed = format!("2{}{}", pick(&mut rng, &["1", "2"]), rng.digits(7));
        for (country, code, n) in [
            ("BR", 55, mobile),
            ("BR", 55, landline),
            ("US", 1, us),
            ("PT", 351, pt_mobile),
            ("PT", 351, pt_fixed),
        ] {
            add(country, code, &n, &mut rng);
            let (a, b) = n.split_at(n.len() - 4);
            for spelled in [
                n.clone(),
                format!("+{code} {n}"),
                format!("{a}-{b}"),
                format!("({}) {}-{b}", &a[..2], &a[2..]),
            ] {
                common.push((country, spelled));
            }
        }
    }
    for _ in 0..3000 {
        let len = 1 + rng.below(18) as usize;
        let digits = rng.digits(len);
        let cell = match rng.below(3) {
            0 => format!("+{digits}"),
            _ => digits,
        };
        cells.push(("BR", cell));
    }
    (cells, common)
}

fn crate_only(phones: Phones) -> Phones {
    Phones {
        fast_path: false,
        ..phones
    }
}

#[test]
fn the_fast_path_gives_the_crates_answer_for_every_cell() {
    let (cells, common) = corpus();
    assert!(cells.len() > 20_000, "{}", cells.len());
    let mut answered = 0;
    for (home, cell) in &cells {
        for country in [None, Some(*home)] {
            let fast = Phones::new(country).unwrap();
            let want = crate_only(fast).normalize(cell);
            assert_eq!(fast.normalize(cell), want, "{cell:?} in {country:?}");
            answered += usize::from(want.is_ok() && fast_answer(&fast, cell).is_some());
        }
    }
    eprintln!("{} cells, {answered} answered", cells.len());
    assert!(answered > 10_000, "the fast path answered only {answered}");
    for (country, cell) in common {
        let fast = Phones::new(Some(country)).unwrap();
        let want = crate_only(fast).normalize(&cell);
        assert!(want.is_ok(), "{cell} in {country}: {want:?}");
        assert_eq!(fast_answer(&fast, &cell), want.ok(), "{cell} in {country}");
    }
}

/// The fast path's answer alone (`None`: it leaves the cell to the crate).
fn fast_answer(phones: &Phones, cell: &str) -> Option<String> {
    let (region, digits) = phones.digits(cell).ok()?;
    let mut e164 = String::new();
    phones
        .fast(region.is_none(), &digits, &mut e164)
        .then_some(e164)
}
