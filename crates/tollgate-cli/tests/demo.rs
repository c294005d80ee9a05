#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `tollgate demo` answers the curls it prints exactly as it prints, and its "mint more" and
//! "inspect" lines work as printed.

mod support;

use support::{base_url, client, get, run_async, start, wait_healthy};

/// One printed curl: URL, bearer token, expected status and (optional) RFC 6750 error code.
#[derive(Debug)]
struct Curl {
    url: String,
    token: Option<String>,
    status: u16,
    code: Option<String>,
}

fn parse_curl(line: &str) -> Option<Curl> {
    let (command, expectation) = line.split_once("# expect ")?;
    let mut expectation = expectation.split_whitespace();
    let status = expectation.next()?.parse().ok()?;
    let code = expectation.next().map(str::to_owned);
    let url = command
        .split_whitespace()
        .map(|word| word.trim_matches('\''))
        .find(|word| word.starts_with("http://"))?
        .to_owned();
    let token = command
        .split_once("-H 'Authorization: Bearer ")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(token, _)| token.to_owned());
    Some(Curl {
        url,
        token,
        status,
        code,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_answers_its_printed_curls() {
    let demo = start(&["demo", "--bind", "127.0.0.1:0"], &[], "ready");
    let api = base_url(&demo.ready);
    assert_ne!(api, "http://127.0.0.1:0", "the real port is printed");
    let http = client();
    wait_healthy(&http, &api).await;

    let curls: Vec<Curl> = demo
        .lines
        .iter()
        .filter(|line| line.starts_with("curl "))
        .map(|line| parse_curl(line).unwrap_or_else(|| panic!("unparsable curl line: {line}")))
        .collect();
    assert!(curls.len() >= 7, "too few curls: {:?}", demo.lines);
    for status in [200, 401, 403] {
        assert!(
            curls
                .iter()
                .any(|c| c.status == status && c.token.is_some()),
            "no curl with a token expecting {status}"
        );
    }
    for curl in &curls {
        let answer = get(&http, &curl.url, curl.token.as_deref()).await;
        assert_eq!(answer.status, curl.status, "{curl:?} answered {answer:?}");
        if let Some(code) = &curl.code {
            assert_eq!(
                answer.error_code().as_deref(),
                Some(code.as_str()),
                "{curl:?}"
            );
        }
        if curl.url.ends_with("/me") && curl.status == 200 {
            let me = answer.json();
            assert!(me["sub"].is_string() && me["roles"].is_array(), "{me}");
        }
    }
    // The expired token is refused as expired.
    let expired = demo
        .lines
        .iter()
        .position(|l| l.contains("expired"))
        .and_then(|at| demo.lines[at..].iter().find_map(|l| parse_curl(l)))
        .expect("an expired-token curl");
    assert_eq!(expired.status, 401);
    let answer = get(&http, &expired.url, expired.token.as_deref()).await;
    assert!(answer.challenge.unwrap().contains("expired"));

    // "tollgate token --issuer ..." as printed mints a token the API accepts.
    let mint = demo
        .lines
        .iter()
        .find(|l| l.starts_with("tollgate token "))
        .expect("a token line");
    let args: Vec<&str> = mint.split_whitespace().skip(1).collect();
    let output = run_async(&args, &[]).await;
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let me = get(&http, &format!("{api}/me"), Some(&token)).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.json()["sub"], "dave");
    assert_eq!(me.json()["roles"], serde_json::json!(["admin", "editor"]));
    assert_eq!(
        get(&http, &format!("{api}/admin"), Some(&token))
            .await
            .status,
        200
    );

    // "tollgate inspect <token> ..." as printed explains the expired token.
    let inspect = demo
        .lines
        .iter()
        .find(|l| l.starts_with("tollgate inspect "))
        .expect("an inspect line");
    let expired_token = expired.token.unwrap();
    let args: Vec<&str> = inspect
        .split_whitespace()
        .skip(1)
        .map(|word| {
            if word == "<token>" {
                expired_token.as_str()
            } else {
                word
            }
        })
        .collect();
    let output = run_async(&args, &[]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("INVALID: expired: exp "), "{text}");
    assert!(text.contains("in the past; leeway 0 s"), "{text}");
    assert!(demo.stderr().is_empty(), "demo logged: {}", demo.stderr());
}
