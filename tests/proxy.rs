//! A proxy in the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, as on many company
//! machines) is never used for a server on this machine: the built-in sandbox and a local
//! `--base-url` are sent to directly, since no proxy elsewhere can reach this machine's
//! loopback.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::process::Command;

use common::*;

/// A "proxy" that takes no connection: any a client made would wait in its backlog.
fn proxy() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

fn through(command: &mut Command, proxy: &str) {
    for name in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"] {
        command.env(name, proxy).env(name.to_lowercase(), proxy);
    }
}

fn assert_untouched(listener: &TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the proxy was connected to: {other:?}"),
    }
}

#[test]
fn a_local_base_url_is_sent_to_directly_whatever_the_proxy_variables_say() {
    let rig = Rig::new();
    let (listener, url) = proxy();
    let csv = rig.file("c.csv", &campaign_csv(3));
    let mut command = rig.command(&csv);
    command.args(["--template", "t"]);
    through(&mut command, &url);
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert!(rows.iter().all(|r| r["status"] == "QUEUED"), "{rows:?}");
    rig.assert_each_accepted_once(3);
    assert_untouched(&listener);
}

#[test]
fn the_built_in_sandbox_works_on_a_machine_with_a_proxy() {
    let rig = Rig::new();
    let (listener, url) = proxy();
    let csv = rig.file("c.csv", &campaign_csv(2));
    let mut command = binary();
    command
        .arg(&csv)
        .args(["--sandbox", "--template", "t", "--spacing", "0"])
        .args(["--rate", "10000/s", "--timeout", "2s"]);
    through(&mut command, &url);
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.sandbox.results.csv"));
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["status"] == "QUEUED"), "{rows:?}");
    assert_untouched(&listener);
}

#[test]
fn a_remote_api_still_goes_through_the_proxy() {
    // A remote address (TEST-NET-1, which nothing here could reach directly) is asked for
    // through the proxy: a tunnel request, which this "proxy" reads and refuses.
    let rig = Rig::new();
    let (listener, url) = proxy();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let asked = std::thread::spawn(move || {
        // Serves until the run is over; a run that never came answers "".
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if finished.try_recv().is_ok() => return String::new(),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        };
        stream.set_nonblocking(false).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request = String::new();
        while reader.read_line(&mut request).unwrap() > 2 {}
        (&stream)
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        request
    });
    let csv = rig.file("c.csv", &campaign_csv(1));
    let mut command = rig.command_to(&csv, "https://192.0.2.1:9");
    command.args(["--template", "t", "--max-attempts", "1"]);
    through(&mut command, &url);
    let output = rig.run(&mut command);
    let _ = done.send(()); // ends the wait of a proxy never asked
    let request = asked.join().unwrap();
    assert!(request.starts_with("CONNECT 192.0.2.1:9 "), "{request:?}");
    assert!(
        !request.contains(KEY),
        "the key went to the proxy in the clear"
    );
    assert_ne!(code(&output), 0, "{}", text(&output));
    assert!(rig.sent().is_empty());
}

#[test]
fn plain_http_to_another_machine_is_refused_before_anything_is_sent() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let mut command = rig.command_to(&csv, "http://192.0.2.1:9");
    command.args(["--template", "t"]);
    assert_refused(
        &rig,
        &mut command,
        &["unencrypted", "https://", "--base-url"],
    );
    assert!(rig.sent().is_empty());
}
