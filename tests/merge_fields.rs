//! Merge fields (`{{column}}`, `{{column|fallback}}`) in free text, captions, footers,
//! headers and buttons: rendered per row, against the real binary and sandbox.

mod common;

use common::{Rig, code, phone, results, text};

/// The body the sandbox received for each destination, in arrival order.
fn bodies(rig: &Rig) -> Vec<serde_json::Value> {
    rig.accepted().into_iter().map(|e| e.body).collect()
}

#[test]
fn text_footer_header_and_buttons_render_each_rows_cells() {
    let rig = Rig::new();
    let csv = rig.file(
        "c.csv",
        &format!(
            "phone,Nome,cidade\n{},Ana,Recife\n{},\"Bia \"\"B\"\"\",\n",
            phone(0),
            phone(1)
        ),
    );
    let output = rig.run(rig.command(&csv).args([
        "--text",
        r"Olá {{nome}}, oferta em {{ cidade | sua cidade }}! \{{literal}}",
        "--buttons",
        r#"[{"type":"reply","displayText":"Sim, {{nome}}","id":"sim"}]"#,
        "--header",
        r#"{"type":"text","content":"Para {{nome}}"}"#,
        "--footer",
        "{{cidade|Brasil}}",
    ]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(
        !text(&output).contains("are not sent"),
        "columns read by merge fields are sent: {}",
        text(&output)
    );
    let bodies = bodies(&rig);
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["text"], "Olá Ana, oferta em Recife! {{literal}}");
    assert_eq!(bodies[0]["footer"], "Recife");
    assert_eq!(bodies[0]["header"]["content"], "Para Ana");
    assert_eq!(bodies[0]["buttons"][0]["displayText"], "Sim, Ana");
    assert_eq!(
        bodies[1]["text"],
        "Olá Bia \"B\", oferta em sua cidade! {{literal}}"
    );
    assert_eq!(bodies[1]["footer"], "Brasil");
    assert_eq!(bodies[1]["header"]["content"], "Para Bia \"B\"");
}

#[test]
fn a_rows_own_text_cell_is_rendered_too() {
    let rig = Rig::new();
    let csv = rig.file(
        "c.csv",
        &format!(
            "phone,nome,text\n{},Ana,Oi {{{{nome}}}}\n{},Bia,\n",
            phone(0),
            phone(1)
        ),
    );
    let output = rig.run(rig.command(&csv).args(["--text", "Bom dia {{nome}}"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let texts: Vec<_> = bodies(&rig).iter().map(|b| b["text"].clone()).collect();
    assert_eq!(texts, ["Oi Ana", "Bom dia Bia"]);
}

#[test]
fn an_empty_cell_without_fallback_makes_the_row_invalid() {
    let rig = Rig::new();
    let csv = rig.file(
        "c.csv",
        &format!("phone,nome\n{},Ana\n{},\n", phone(0), phone(1)),
    );
    let output =
        rig.run(
            rig.command(&csv)
                .args(["--text", "Olá {{nome}}", "--max-invalid", "100%"]),
        );
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent(), [phone(0)]);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows[1]["status"], "INVALID");
    assert_eq!(rows[1]["errorCode"], "MISSING_VARIABLE");
    assert!(rows[1]["error"].contains("nome"), "{:?}", rows[1]);
}

#[test]
fn a_cell_of_invisible_characters_is_empty() {
    // Exports from CRMs leave zero-width spaces, joiners and byte order marks in cells that
    // look empty: they take the fallback, or leave the row without its field.
    let rig = Rig::new();
    let csv = rig.file(
        "c.csv",
        &format!(
            "phone,nome,sobrenome\n{},\u{200b},Silva\n{},Bia,\u{feff}\u{2060} \n",
            phone(0),
            phone(1)
        ),
    );
    let output = rig.run(rig.command(&csv).args([
        "--text",
        "Oi {{nome|cliente}} {{sobrenome}}!",
        "--max-invalid",
        "100%",
    ]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent(), [phone(0)]);
    assert_eq!(bodies(&rig)[0]["text"], "Oi cliente Silva!");
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows[1]["errorCode"], "MISSING_VARIABLE");
    assert!(rows[1]["error"].contains("sobrenome"), "{:?}", rows[1]);
}

#[test]
fn the_rendered_text_is_what_is_checked_for_length() {
    let rig = Rig::new();
    let long = "x".repeat(56);
    let csv = rig.file(
        "c.csv",
        &format!("phone,nome\n{},Ana\n{},{long}\n", phone(0), phone(1)),
    );
    let output = rig.run(rig.command(&csv).args([
        "--text",
        "oi",
        "--buttons",
        r#"[{"type":"reply","displayText":"Sim"}]"#,
        "--footer",
        "Loja {{nome}}",
        "--max-invalid",
        "100%",
    ]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent(), [phone(0)]);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows[1]["errorCode"], "FOOTER_TOO_LONG");
}

#[test]
fn an_unknown_column_stops_before_any_send_naming_the_closest() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &format!("phone,nome\n{},Ana\n", phone(0)));
    common::assert_refused(
        &rig,
        rig.command(&csv).args(["--text", "Olá {{nme}}"]),
        &["--text", "{{nme}}", "closest match: 'nome'"],
    );
    common::assert_refused(
        &rig,
        rig.command(&csv)
            .args(["--footer", "Olá {{nome", "--text", "x"]),
        &["--footer", "never closed", r"\{{"],
    );
    assert!(!rig.dir.path().join("c.results.csv").exists());
}

#[test]
fn dry_run_prints_the_rendered_text() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &format!("phone,nome\n{},Ana\n", phone(0)));
    let output = rig.run(
        rig.command(&csv)
            .args(["--text", "Olá {{nome}}", "--dry-run"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(text(&output).contains("Olá Ana"), "{}", text(&output));
    assert!(rig.log().is_empty());
}

/// A text is measured once its merge fields are filled: two cells of 3,000 characters make
/// a row `INVALID` (`VALUE_TOO_LONG`, naming the text), not a send the API refuses; a row
/// whose fields all fill empty sends nothing and says the text is empty; a plain text over
/// the limit stops the run before any send.
#[test]
fn texts_are_measured_and_checked_once_their_fields_are_filled() {
    let rig = Rig::new();
    let long = "a".repeat(3000);
    let csv = rig.file(
        "c.csv",
        &format!(
            "phone,a,b,saudacao\n{},{long},{long},Oi\n{},x,y,\n{},x,y,Olá\n",
            phone(0),
            phone(1),
            phone(2)
        ),
    );
    let output = rig.run(rig.command(&csv).args([
        "--text",
        "{{saudacao|}}{{a}} {{b}}",
        "--max-invalid",
        "100%",
    ]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows[0]["status"], "INVALID");
    assert_eq!(rows[0]["errorCode"], "VALUE_TOO_LONG");
    assert!(
        rows[0]["error"].contains("field text"),
        "{}",
        rows[0]["error"]
    );
    assert_eq!(rows[1]["status"], "QUEUED", "{}", rows[1]["error"]);
    assert_eq!(rig.sent(), [phone(1), phone(2)]);

    let rig = Rig::new();
    let csv = rig.file("c.csv", &format!("phone,saudacao\n{},\n", phone(0)));
    let output =
        rig.run(
            rig.command(&csv)
                .args(["--text", "{{saudacao|}}", "--max-invalid", "100%"]),
        );
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(
        rows[0]["error"].contains("field text: text is empty"),
        "{}",
        rows[0]["error"]
    );
    assert!(
        !rows[0]["error"].contains("templateId"),
        "{}",
        rows[0]["error"]
    );

    let rig = Rig::new();
    let csv = rig.file("c.csv", &format!("phone\n{}\n", phone(0)));
    let output = rig.run(rig.command(&csv).args(["--text", &"b".repeat(5000)]));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("5000 characters"),
        "{}",
        text(&output)
    );
    assert!(rig.log().is_empty(), "nothing sent");
}
