//! `report --html` rendered by a real browser (Debian's headless Chromium): the page of a
//! sandbox campaign draws (the screenshot is not blank), its text holds the campaign's
//! figures, and a hostile cell of the results file shows as text, never as markup.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A browser on PATH, if any.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Runs the browser headless on `page` with `extra` flags, killed after a minute.
fn render(browser: &Path, profile: &Path, page: &Path, extra: &str) -> Output {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1200,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish rendering within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// How many pixels differ from white, and how many distinct colours the image has.
fn ink(png_path: &Path) -> (usize, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).expect("a screenshot was written"),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    let mut colours = std::collections::HashSet::new();
    let mut inked = 0;
    for pixel in buffer[..info.buffer_size()].chunks(channels) {
        let rgb = &pixel[..3.min(channels)];
        inked += usize::from(rgb.iter().any(|c| *c < 245));
        colours.insert(rgb.to_vec());
    }
    (inked, colours.len())
}

#[test]
fn the_html_report_renders_in_a_browser_with_the_campaigns_figures() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is not installed: install it with `apt-get install -y chromium` (.ci/run does)"
        );
        eprintln!(
            "skipped: chromium is not installed (apt-get install -y chromium); with CI=true this fails"
        );
        return;
    };
    let rig = Rig::new();
    let mut csv = campaign_csv(12);
    csv.push_str("not a phone,Bad\n");
    let csv = rig.file("c.csv", &csv);
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 1, "one row is INVALID: {}", text(&output));
    rig.sandbox.advance(Duration::from_secs(3600));
    let results = rig.dir.path().join("c.results.csv");
    let output = rig.run(&mut rig.operation("status", &results));
    assert_eq!(code(&output), 0, "{}", text(&output));
    // A hostile line (a recipient no longer in the CSV): markup in its code and sender.
    let mut file = std::fs::read_to_string(&results).unwrap();
    let first: Vec<String> = file
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    let (sent_at, target) = (&first[9], &first[12]);
    file.push_str(&format!(
        ",+5511988887777,FAILED,,,400,<script>alert(1)</script>,x,1,{sent_at},+5511988887777,<img src=x onerror=alert(2)>,{target},,,,,\n"
    ));
    std::fs::write(&results, file).unwrap();

    let page = rig.dir.path().join("report.html");
    let output = rig.run(
        binary()
            .args(["report", "--json", "--tz", "America/Sao_Paulo", "--html"])
            .arg(&page)
            .arg(&results),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (json["rows"].as_u64(), json["queued"].as_u64()),
        (Some(14), Some(12))
    );
    let html = std::fs::read_to_string(&page).unwrap();
    for forbidden in ["<script", "<img", "<link", "@import", "url("] {
        assert!(!html.contains(forbidden), "'{forbidden}' in the page");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    let profile = tempfile::tempdir().unwrap();
    let shot = rig.dir.path().join("report.png");
    render(
        &browser,
        profile.path(),
        &page,
        &format!("--screenshot={}", shot.display()),
    );
    let (inked, colours) = ink(&shot);
    assert!(
        inked > 20_000,
        "the screenshot is (nearly) blank: {inked} pixels"
    );
    assert!(
        colours > 8,
        "the charts' colours are missing: {colours} colours"
    );

    let dom = render(&browser, profile.path(), &page, "--dump-dom");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(!dom.contains("<script") && !dom.contains("<img"), "{dom}");
    let rate = |key: &str| json[key].as_f64().map(|r| format!("{r:.1}%")).unwrap();
    for expected in [
        "Campaign report".to_string(),
        "America/Sao_Paulo".to_string(),
        ">14<".to_string(),
        ">12<".to_string(),
        rate("deliveredRate"),
        rate("readRate"),
        "input INVALID_DESTINATION".to_string(),
        ">13<".to_string(),
        "&lt;script&gt;alert(1)&lt;/script&gt;".to_string(),
        "&lt;img src=x onerror=alert(2)&gt;".to_string(),
        "Sends per hour".to_string(),
    ] {
        assert!(dom.contains(&expected), "'{expected}' missing from:\n{dom}");
    }
}

/// `--html` naming a file that is not a page (the campaign's CSV, by a slip of the shell)
/// leaves it as it is; an earlier page is written over.
#[test]
fn the_html_report_never_writes_over_a_file_that_is_not_a_report() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let results = rig.dir.path().join("c.results.csv");
    let before = std::fs::read(&csv).unwrap();
    let report_to =
        |page: &Path| rig.run(binary().args(["report", "--html"]).arg(page).arg(&results));
    let output = report_to(&csv);
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(text(&output).contains("not a report"), "{}", text(&output));
    assert_eq!(std::fs::read(&csv).unwrap(), before, "the CSV is untouched");
    let page = rig.dir.path().join("report.html");
    for _ in 0..2 {
        let output = report_to(&page);
        assert_eq!(code(&output), 0, "{}", text(&output));
    }
    assert!(
        std::fs::read_to_string(&page)
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
}
