//! End-to-end tests of [`CsvInput`] over small files written to a temporary directory.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::*;
use crate::message::{Content, Message};
use crate::message::{Destination, Media, MediaType};

pub(super) fn options() -> InputOptions {
    InputOptions {
        capabilities: &crate::provider::pilot_status::CAPABILITIES,
        window: None,
        phone_column: None,
        defaults: MessageDefaults {
            template_id: Some("boas_vindas".into()),
            ..MessageDefaults::default()
        },
        now: "2026-06-01T12:00:00Z".parse().unwrap(),
        default_country: None,
        delimiter: None,
        encoding: None,
        suppression: None,
    }
}

/// Writes `bytes` to a fresh file and opens it; the directory lives as long as the input.
pub(super) fn open_bytes(
    bytes: &[u8],
    options: &InputOptions,
) -> Result<(tempfile::TempDir, CsvInput), InputError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaign.csv");
    std::fs::write(&path, bytes).unwrap();
    CsvInput::open(&path, options).map(|input| (dir, input))
}

pub(super) fn rows(csv: &str, options: &InputOptions) -> Vec<Row> {
    rows_of(csv.as_bytes(), options)
}

/// Every row of a file given as raw bytes (for encoding tests).
pub(super) fn rows_of(bytes: &[u8], options: &InputOptions) -> Vec<Row> {
    let (_dir, input) = open_bytes(bytes, options).unwrap();
    input.map(Result::unwrap).collect()
}

/// The default options with `--encoding label`.
pub(super) fn with_encoding(label: &str) -> InputOptions {
    InputOptions {
        encoding: Some(label.into()),
        ..options()
    }
}

pub(super) fn message(row: &Row) -> &Message {
    match &row.verdict {
        Verdict::Send(m) => m,
        other => panic!("row {} not sent: {other:?}", row.index),
    }
}

pub(super) fn error(row: &Row) -> &RowError {
    match &row.verdict {
        Verdict::Invalid(e) => e,
        other => panic!("row {} not invalid: {other:?}", row.index),
    }
}

#[test]
fn template_rows_carry_non_empty_variables() {
    let r = rows(
        "cidade,phone,Nome,vazio\nSão Paulo,+5511988887777, Ana ,\n",
        &options(),
    );
    assert_eq!(r.len(), 1);
    let m = message(&r[0]);
    assert_eq!(r[0].index, 1);
    assert_eq!(r[0].destination, "+5511988887777");
    assert_eq!(m.destination, Destination::Phone("+5511988887777".into()));
    assert_eq!(
        m.content,
        Content::Template {
            id: "boas_vindas".into(),
            media: None,
            contact_id: None
        }
    );
    // serde_json's Map is ordered by key here (no preserve_order feature); the API reads
    // variables by name, so only the content matters.
    let expected: Map<String, Value> = [("cidade", "São Paulo"), ("Nome", "Ana")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .collect();
    assert_eq!(m.variables, expected);
}

#[test]
fn accessors_report_the_header() {
    let (_d, input) = open_bytes(b" phone , nome ,TEXT\n", &options()).unwrap();
    assert_eq!(input.columns(), ["phone", "nome", "TEXT"]);
    assert_eq!(input.variable_columns(), ["nome"]);
    assert!(input.warnings().is_empty());
}

#[test]
fn cells_override_defaults_per_field() {
    let mut o = options();
    o.defaults.labels = Some("geral".into());
    o.defaults.media = Some("https://cdn.x.com/default.png".into());
    let r = rows(
        "phone,templateId,media,labels\n+5511988887777,promo,,\"vip, pedido\"\n+5511977776666,,https://cdn.x.com/b.png,\n",
        &o,
    );
    let a = message(&r[0]);
    assert_eq!(
        a.content,
        Content::Template {
            id: "promo".into(),
            media: Some(Media {
                url: "https://cdn.x.com/default.png".into(),
                kind: None
            }),
            contact_id: None
        }
    );
    assert_eq!(a.labels, ["vip", "pedido"]);
    let b = message(&r[1]);
    assert_eq!(
        b.content,
        Content::Template {
            id: "boas_vindas".into(),
            media: Some(Media {
                url: "https://cdn.x.com/b.png".into(),
                kind: None
            }),
            contact_id: None
        }
    );
    assert_eq!(b.labels, ["geral"]);
}

#[test]
fn text_and_media_rows_send_no_variables() {
    let mut o = options();
    o.defaults = MessageDefaults::default();
    let r = rows(
        "phone,text,media,mediaType,caption,nome\n+5511988887777,Olá,,,,Ana\n+5511977776666,,https://x.io/a.pdf,document,Seu boleto,Bia\n",
        &o,
    );
    let a = message(&r[0]);
    assert_eq!(
        a.content,
        Content::Text {
            body: "Olá".into()
        }
    );
    assert!(a.variables.is_empty());
    let b = message(&r[1]);
    assert_eq!(
        b.content,
        Content::Media {
            media: Media {
                url: "https://x.io/a.pdf".into(),
                kind: Some(MediaType::Document)
            },
            caption: Some("Seu boleto".into())
        }
    );
    assert!(b.variables.is_empty());
}

#[test]
fn row_level_rule_violations_name_field_and_code() {
    let mut o = options();
    o.defaults = MessageDefaults::default();
    let r = rows(
        "phone,templateId,text,media,mediaType,caption,buttons,header,footer,deliverAt,deliverUntil\n\
         +5511988887777,t,oi,,,,,,,,\n\
         +5511988887777,,,,,,,,,,\n\
         +5511988887777,,oi,https://x.io/a.png,,,,,,,\n\
         +5511988887777,,,https://x.io/a.ogg,audio,ouça,,,,,\n\
         +5511988887777,,,x.png,image,,,,,,\n\
         +5511988887777,,oi,,,,,,longo demais longo demais longo demais longo demais longo demais,,\n\
         +5511988887777,,oi,,,,,,,amanhã,\n\
         +5511988887777,,oi,,,,,,,2026-06-02T10:00:00Z,2026-06-02T09:00:00Z\n\
         +5511988887777,,oi,,,,,,,,2026-05-01T00:00:00Z\n\
         +5511988887777,,oi,,,,,\"{\"\"type\"\":\"\"text\"\",\"\"content\"\":\"\"Oi\"\"}\",,,\n",
        &o,
    );
    let got: Vec<(&str, RowErrorCode)> = r
        .iter()
        .map(|row| (error(row).field.as_str(), error(row).code))
        .collect();
    assert_eq!(
        got,
        vec![
            ("text", RowErrorCode::ConflictingModes),
            ("templateId", RowErrorCode::MissingMode),
            ("media", RowErrorCode::ConflictingModes),
            ("caption", RowErrorCode::CaptionNotAllowed),
            ("media", RowErrorCode::InvalidMedia),
            ("footer", RowErrorCode::FooterTooLong),
            ("deliverAt", RowErrorCode::InvalidTimestamp),
            ("deliverUntil", RowErrorCode::DeliverUntilNotAfterDeliverAt),
            ("deliverUntil", RowErrorCode::DeliverUntilPast),
            ("header", RowErrorCode::HeaderWithoutButtons),
        ]
    );
    // The destination was fine: rows show it normalized even though they are invalid.
    assert!(r.iter().all(|row| row.destination == "+5511988887777"));
}

#[test]
fn destinations_exactly_one_per_row() {
    let r = rows(
        "phone,groupId,newsletterId,nome\n\
         ,,,Ana\n\
         +5511988887777,1-2@g.us,,Bia\n\
         ,1-2@g.us,,Caio\n\
         ,,1203@newsletter,Duda\n\
         11988887777,,,Eva\n\
         BR.13491208655302741918,,,Fabi\n",
        &options(),
    );
    let e = error(&r[0]);
    assert_eq!(
        (e.field.as_str(), e.code),
        (
            "phone, groupId, newsletterId",
            RowErrorCode::MissingDestination
        )
    );
    assert_eq!(r[0].raw_destination, "");
    let e = error(&r[1]);
    assert_eq!(
        (e.field.as_str(), e.code),
        ("phone, groupId", RowErrorCode::MultipleDestinations)
    );
    assert_eq!(
        message(&r[2]).destination,
        Destination::Group("1-2@g.us".into())
    );
    assert_eq!(
        message(&r[3]).destination,
        Destination::Newsletter("1203@newsletter".into())
    );
    let e = error(&r[4]);
    assert_eq!(
        (e.field.as_str(), e.code),
        ("phone", RowErrorCode::InvalidDestination)
    );
    assert_eq!(
        (r[4].raw_destination.as_str(), r[4].destination.as_str()),
        ("11988887777", "11988887777")
    );
    assert_eq!(
        message(&r[5]).destination,
        Destination::Phone("BR.13491208655302741918".into())
    );
}

#[test]
fn malformed_rows_are_invalid_not_shifted() {
    let r = rows(
        "phone,nome,cidade\n+5511988887777,Ana\n+5511977776666,Bia,Rio,extra\n+5511966665555,Caio,\"Belo\nHorizonte\"\n",
        &options(),
    );
    let e = error(&r[0]);
    assert_eq!(
        (e.field.as_str(), e.code),
        ("row", RowErrorCode::MalformedRow)
    );
    assert!(
        e.message.starts_with("row has 2 fields, header has 3"),
        "{}",
        e.message
    );
    assert_eq!(r[0].raw_destination, "+5511988887777");
    assert_eq!(error(&r[1]).code, RowErrorCode::MalformedRow);
    // A quoted newline keeps one record: index counts records, not lines.
    assert_eq!(r[2].index, 3);
    assert_eq!(message(&r[2]).variables["cidade"], "Belo\nHorizonte");
}

#[test]
fn invalid_utf8_in_a_row_is_an_encoding_error_for_that_row() {
    let r = rows_of(
        b"phone,nome\n+5511988887777,Jos\xe9\n+5511977776666,Ana\n",
        &with_encoding("utf-8"),
    );
    let e = error(&r[0]);
    assert_eq!(
        (e.field.as_str(), e.code),
        ("nome", RowErrorCode::InvalidEncoding)
    );
    assert_eq!(r[0].raw_destination, "+5511988887777");
    assert_eq!(message(&r[1]).variables["nome"], "Ana");
}

#[test]
fn set_up_problems_stop_at_open() {
    let o = options();
    assert!(matches!(open_bytes(b"", &o), Err(InputError::Empty { .. })));
    assert!(matches!(
        open_bytes(b"nome,cidade\nAna,Rio\n", &o),
        Err(InputError::NoDestinationColumn { .. })
    ));
    assert!(matches!(
        open_bytes(b"phone,to\n", &o),
        Err(InputError::TwoPhoneColumns { .. })
    ));
    let mut none = options();
    none.defaults = MessageDefaults::default();
    let e = open_bytes(b"phone,nome\n", &none).err().unwrap();
    assert_eq!(
        e.to_string(),
        "no message to send: pass --template, --text or --media, or add a templateId/text/media column"
    );
    let mut bad = options();
    bad.defaults.buttons = Some("[".into());
    assert!(matches!(
        open_bytes(b"phone\n", &bad),
        Err(InputError::Defaults(RowError {
            code: RowErrorCode::InvalidButtons,
            ..
        }))
    ));
    let missing = CsvInput::open(Path::new("/nonexistent/campaign.csv"), &o);
    assert!(matches!(missing, Err(InputError::Open { .. })));
}

#[test]
fn phones_are_normalized_with_the_default_country_and_raw_is_kept() {
    let mut o = options();
    o.default_country = Some("BR".into());
    let r = rows(
        "phone,nome\n(11) 98888-7777,Ana\n5511966665555,Bia\n(11) 8888-777,Caio\n",
        &o,
    );
    assert_eq!(
        (r[0].raw_destination.as_str(), r[0].destination.as_str()),
        ("(11) 98888-7777", "+5511988887777")
    );
    assert_eq!(
        message(&r[0]).destination,
        Destination::Phone("+5511988887777".into())
    );
    assert_eq!(r[1].destination, "+5511966665555");
    assert_eq!(error(&r[2]).code, RowErrorCode::InvalidDestination);
    assert_eq!(r[2].destination, "(11) 8888-777");
    o.default_country = Some("Brasil".into());
    assert!(matches!(
        open_bytes(b"phone\n", &o),
        Err(InputError::UnknownCountry { .. })
    ));
}

#[test]
fn quotes_that_swallow_rows_stop_the_file() {
    let o = options();
    let e = open_bytes(b"phone,\"nome\n+5511988887777,Ana\n", &o).err();
    assert!(
        matches!(&e, Some(InputError::QuoteInHeader { position: 2, .. })),
        "{e:?}"
    );
    // Blank lines and a cell with line breaks before: the line is the file's, the row the data's.
    let csv =
        "phone,nome\n\n+5511988887777,\"Ana\nSilva\"\n+5511977776666,\"Bia\n+5511966665555,Caio\n";
    let (_d, input) = open_bytes(csv.as_bytes(), &o).unwrap();
    let out: Vec<_> = input.collect();
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].is_ok());
    let e = out[1].as_ref().unwrap_err();
    assert!(
        matches!(e, InputError::UnclosedQuote { place: Place { row: 2, line: 5 }, column, .. } if column == "nome"),
        "{e}"
    );
    // Closed two rows later, on a `;` file whose phone column is first; LF or CRLF (where
    // the CSV reader stops before the record's last line break), after a blank line or not.
    let csv = "phone;nome;cidade\n+5511988887777;\"Ana;SP\n+5511977776666;Bia;RJ\n+5511966665555;\"Caio\";BH\n+5511955554444;Davi;SP\n";
    for (csv, line) in [
        (csv.to_string(), 2),
        (csv.replace('\n', "\r\n"), 2),
        (csv.replacen('\n', "\r\n\r\n", 1), 3),
    ] {
        let (_d, input) = open_bytes(csv.as_bytes(), &o).unwrap();
        let out: Vec<_> = input.collect();
        assert_eq!(out.len(), 1, "the iterator stops at the error: {out:?}");
        let e = out[0].as_ref().unwrap_err();
        assert!(
            matches!(e, InputError::SwallowedRows { place: Place { row: 1, line: l }, rows: 1, .. } if *l == line),
            "{csv:?}: {e}"
        );
    }
}

/// Throughput guard for the per-row hot path; run with
/// `cargo test --release --lib input::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore = "measures speed: meaningful in release mode only"]
fn throughput() {
    use std::fmt::Write as _;
    let mut csv = String::from("phone,nome,cidade,pedido\n");
    for i in 0..1_000_000u64 {
        writeln!(
            csv,
            "(11) 9{:04}-{:04},Ana {i},São Paulo,{i}",
            (i / 10_000) % 10_000,
            i % 10_000
        )
        .unwrap();
    }
    let mut o = options();
    o.default_country = Some("BR".into());
    let (_d, input) = open_bytes(csv.as_bytes(), &o).unwrap();
    let start = std::time::Instant::now();
    let sent = input
        .filter(|r| matches!(r.as_ref().unwrap().verdict, Verdict::Send(_)))
        .count();
    let rate = 1_000_000.0 / start.elapsed().as_secs_f64();
    println!("{sent} rows sent, {rate:.0} rows/s");
    assert_eq!(sent, 1_000_000);
}

#[test]
fn excel_dialects_read_without_flags() {
    // Brazilian Excel: semicolons, CRLF, a BOM, and a quoted multi-line cell.
    let csv = "\u{feff}phone;nome;endereco\r\n+5511988887777;Ana;\"Rua A, 1\r\napto 2\"\r\n+5511977776666;Bia;Rua B\r\n";
    let r = rows(csv, &options());
    assert_eq!(r.len(), 2);
    assert_eq!(message(&r[0]).variables["endereco"], "Rua A, 1\r\napto 2");
    assert_eq!(
        (r[1].index, r[1].destination.as_str()),
        (2, "+5511977776666")
    );
    let (_d, input) = open_bytes(csv.as_bytes(), &options()).unwrap();
    assert_eq!(
        input.columns(),
        ["phone", "nome", "endereco"],
        "BOM stripped"
    );

    let r = rows("phone\tnome\n+5511988887777\tAna\n", &options());
    assert_eq!(message(&r[0]).variables["nome"], "Ana");
    // An explicit delimiter wins over detection.
    let mut o = options();
    o.delimiter = Some(b'|');
    let r = rows("phone|nome;x\n+5511988887777|Ana;Bia\n", &o);
    assert_eq!(message(&r[0]).variables["nome;x"], "Ana;Bia");
}

#[test]
fn windows_1252_exports_decode_exactly() {
    let (_d, input) = open_bytes(
        b"phone;nome;cidade\n+5511988887777;Jos\xe9;S\xe3o Paulo\n",
        &options(),
    )
    .unwrap();
    assert_eq!(input.warnings().len(), 1);
    assert!(
        input.warnings()[0].contains("decoded as windows-1252"),
        "{:?}",
        input.warnings()
    );
    let r: Vec<Row> = input.map(Result::unwrap).collect();
    let vars = &message(&r[0]).variables;
    assert_eq!(vars["nome"], "José");
    assert_eq!(vars["cidade"], "São Paulo");

    // Named explicitly, with a Latin-1 header too.
    let (_d, input) = open_bytes(
        b"phone,observa\xe7\xe3o\n+5511988887777,Jo\xe3o\n",
        &with_encoding("windows-1252"),
    )
    .unwrap();
    assert!(input.warnings().is_empty());
    assert_eq!(input.columns(), ["phone", "observação"]);
    let r: Vec<Row> = input.map(Result::unwrap).collect();
    assert_eq!(message(&r[0]).variables["observação"], "João");
}

#[test]
fn utf16_with_bom_decodes() {
    let text = "phone\tnome\r\n+5511988887777\tJosé\r\n";
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let (_d, input) = open_bytes(&bytes, &options()).unwrap();
    assert_eq!(input.columns(), ["phone", "nome"]);
    let r: Vec<Row> = input.map(Result::unwrap).collect();
    assert_eq!(message(&r[0]).variables["nome"], "José");
}

#[test]
fn bytes_the_named_encoding_lacks_are_refused_not_replaced() {
    let r = rows_of(
        b"phone,nome\n+5511988887777,\xff\xff\n+5511977776666,Ana\n",
        &with_encoding("shift_jis"),
    );
    let e = error(&r[0]);
    assert_eq!(
        (e.field.as_str(), e.code),
        ("nome", RowErrorCode::InvalidEncoding)
    );
    assert_eq!(message(&r[1]).variables["nome"], "Ana");
    assert!(matches!(
        open_bytes(b"phone\n", &with_encoding("klingon")),
        Err(InputError::UnknownEncoding { .. })
    ));
}

#[test]
fn a_header_that_is_not_utf8_in_a_utf8_file_is_refused() {
    // Mixed file: valid UTF-8 "é" in a row, an invalid byte in the header.
    let e = open_bytes(
        b"phone,cora\xe7ao\n+5511988887777,Jos\xc3\xa9\n",
        &options(),
    )
    .err()
    .unwrap();
    assert!(matches!(e, InputError::HeaderEncoding), "{e}");
}

#[test]
fn a_destination_repeated_after_normalization_is_a_duplicate() {
    let mut o = options();
    o.default_country = Some("BR".into());
    let r = rows(
        "phone,media,nome\n\
         +5511988887777,,Ana\n\
         11977776666,x.png,Bia\n\
         (11) 98888-7777,,Ana de novo\n\
         +55 11 97777-6666,,Bia\n\
         5511988887777,,Ana 3\n\
         (11) 97777-6666,,Bia 3\n",
        &o,
    );
    assert!(matches!(r[0].verdict, Verdict::Send(_)));
    assert_eq!(error(&r[1]).code, RowErrorCode::InvalidMedia);
    let e = error(&r[2]);
    assert_eq!(
        (e.field.as_str(), e.code),
        ("phone", RowErrorCode::DuplicateDestination)
    );
    assert!(
        e.message.starts_with("same destination as row 1"),
        "{}",
        e.message
    );
    assert_eq!(r[2].destination, "+5511988887777");
    // Row 2 was invalid, so row 4 is the first send to that number.
    assert!(matches!(r[3].verdict, Verdict::Send(_)));
    assert!(
        error(&r[4])
            .message
            .starts_with("same destination as row 1")
    );
    assert!(
        error(&r[5])
            .message
            .starts_with("same destination as row 4")
    );
}

#[test]
fn opted_out_destinations_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("optout.txt");
    std::fs::write(&list, "(11) 98888-7777\n").unwrap();
    let mut o = options();
    o.default_country = Some("BR".into());
    o.suppression = Some(Arc::new(load_suppression(&[list], Some("BR")).unwrap()));
    let r = rows(
        "phone,media\n+55 11 98888-7777,\n11988887777,x.png\n+5511977776666,\n",
        &o,
    );
    for row in &r[..2] {
        let Verdict::Skip(e) = &row.verdict else {
            panic!("row {} not skipped: {:?}", row.index, row.verdict)
        };
        assert_eq!(
            (e.field.as_str(), e.code),
            ("phone", RowErrorCode::OptedOut)
        );
        assert_eq!(row.destination, "+5511988887777");
    }
    assert!(matches!(r[2].verdict, Verdict::Send(_)));
}
