#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! DPoP (RFC 9449) in `tollgate serve`, black-box: the `AUTH_DPOP`, `AUTH_PUBLIC_URL` and
//! `AUTH_DPOP_NONCE` contract, the answers of each mode, and the token tools (`token --dpop`,
//! `proof`, `inspect --dpop`) against the real binary.

mod support;

use serde_json::{Map, Value, json};
use support::{Serve, now, run, run_async, stdout};
use tollgate::testing::SigningKey;

const SECRET: &str = "dpop-test-secret-0123456789abcdef-0123";

/// A started `serve` with `SECRET` on a free port, with `AUTH_PUBLIC_URL` naming it (unless
/// `envs` sets one).
async fn start_serve(envs: &[(&str, &str)]) -> Serve {
    let mut all: Vec<(&str, &str)> = vec![("AUTH_HS256_SECRET", SECRET)];
    all.extend_from_slice(envs);
    Serve::start_at_own_origin(&all).await
}

/// `tollgate token --secret SECRET --dpop ...extra --format json`: (token, proof, jkt).
async fn bound_token(extra: &[&str]) -> (String, String, String) {
    let mut args = vec!["token", "--secret", SECRET, "--dpop", "--format", "json"];
    args.extend_from_slice(extra);
    let output = run_async(&args, &[]).await;
    assert!(output.status.success(), "{output:?}");
    let minted: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    let field = |name: &str| minted[name].as_str().unwrap().to_owned();
    (field("token"), field("proof"), field("jkt"))
}

/// `tollgate proof --dpop-key KEY --token TOKEN ...extra`.
async fn mint_proof(key: &str, token: &str, extra: &[&str]) -> String {
    let mut args = vec!["proof", "--dpop-key", key, "--token", token];
    args.extend_from_slice(extra);
    let output = run_async(&args, &[]).await;
    assert!(output.status.success(), "{output:?}");
    stdout(&output).trim().to_owned()
}

/// An HS256 token signed with `SECRET` (not bound unless `claims` has `cnf`).
fn token(claims: Value) -> String {
    let mut all: Map<String, Value> = claims.as_object().unwrap().clone();
    all.entry("sub").or_insert(json!("alice"));
    all.insert("exp".into(), json!(now() + 600));
    SigningKey::hmac(SECRET).unwrap().sign(&all, "JWT").unwrap()
}

/// A temporary file path, removed on drop.
struct TempPath(std::path::PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        let path = std::env::temp_dir().join(format!(
            "tollgate-dpop-{}-{}-{name}",
            std::process::id(),
            now()
        ));
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }

    fn as_str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `serve` with `envs` exits 2 with one stderr line naming `mention`.
fn refuses(envs: &[(&str, &str)], mention: &str) {
    let mut all = vec![("AUTH_HS256_SECRET", SECRET), ("BIND", "127.0.0.1:0")];
    all.extend_from_slice(envs);
    let output = run(&["serve"], &all);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{envs:?}: {output:?}");
    assert!(output.stdout.is_empty(), "{envs:?}: {output:?}");
    assert_eq!(stderr.lines().count(), 1, "{envs:?}: {stderr:?}");
    assert!(
        stderr.contains(mention),
        "{envs:?}: {stderr:?} lacks {mention:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_dpop_configuration_exits_with_one_line() {
    let public = ("AUTH_PUBLIC_URL", "http://127.0.0.1:8080");
    for bad in [
        "on",
        "1",
        "true",
        "yes",
        "dpop",
        "bearer",
        "Required!",
        "allowed,required",
    ] {
        refuses(&[("AUTH_DPOP", bad), public], "AUTH_DPOP=");
    }
    for mode in ["allowed", "required"] {
        let dpop = ("AUTH_DPOP", mode);
        refuses(&[dpop], "AUTH_PUBLIC_URL is required");
        refuses(
            &[dpop, ("AUTH_PUBLIC_URL", "")],
            "AUTH_PUBLIC_URL is required",
        );
        for bad in [
            "http://127.0.0.1:8080/api",
            "https://api.example.com/v1/",
            "http://127.0.0.1:8080?x=1",
            "ftp://api.example.com",
            "api.example.com",
            "127.0.0.1:8080",
            "https://",
        ] {
            refuses(&[dpop, ("AUTH_PUBLIC_URL", bad)], "AUTH_PUBLIC_URL");
        }
        for bad in ["2", "maybe"] {
            refuses(&[dpop, public, ("AUTH_DPOP_NONCE", bad)], "AUTH_DPOP_NONCE");
        }
    }
    // Nonces without DPoP: a contradiction, not silently ignored.
    refuses(&[("AUTH_DPOP_NONCE", "1")], "AUTH_DPOP_NONCE");
    // `serve --help` documents the variables.
    let help = stdout(&run(&["serve", "--help"], &[]));
    for name in [
        "AUTH_DPOP ",
        "AUTH_PUBLIC_URL",
        "AUTH_DPOP_NONCE",
        "ES256, RS256, PS256",
    ] {
        assert!(help.contains(name), "{name} not in serve --help:\n{help}");
    }
    assert!(help.lines().all(|l| l.len() <= 100), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_token_as_bearer_is_refused_with_dpop_unset() {
    let serve = start_serve(&[]).await;
    let (bound, proof, _) = bound_token(&["--url", &serve.url("/me")]).await;
    let plain = token(json!({}));
    assert_eq!(
        serve
            .get_dpop("/me", Some(("Bearer", &plain)), None)
            .await
            .status,
        200
    );
    let refused = serve.get_dpop("/me", Some(("Bearer", &bound)), None).await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(
        refused
            .challenge("Bearer")
            .contains("error=\"invalid_token\"")
    );
    assert_eq!(refused.error(), "invalid_token");
    // A bound token written by hand (not by our CLI) too.
    let by_hand = token(json!({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}));
    assert_eq!(
        serve
            .get_dpop("/me", Some(("Bearer", &by_hand)), None)
            .await
            .status,
        401
    );
    // DPoP off: the DPoP scheme is not accepted, even with a valid proof.
    let dpop = serve
        .get_dpop("/me", Some(("DPoP", &bound)), Some(&proof))
        .await;
    assert_eq!(dpop.status, 401, "{dpop:?}");
    assert!(dpop.challenge("Bearer").starts_with("Bearer"));
    // The same with AUTH_DPOP=off said explicitly.
    let off = start_serve(&[("AUTH_DPOP", "off")]).await;
    let (bound, _, _) = bound_token(&[]).await;
    assert_eq!(
        off.get_dpop("/me", Some(("Bearer", &bound)), None)
            .await
            .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_mode() {
    let serve = start_serve(&[("AUTH_DPOP", "allowed")]).await;
    // Missing credentials: one Bearer and one DPoP challenge, with the proof algorithms.
    let missing = serve.get_dpop("/me", None, None).await;
    assert_eq!(missing.status, 401, "{missing:?}");
    assert_eq!(missing.challenges.len(), 2, "{missing:?}");
    assert!(
        missing.challenges.iter().any(|c| c.starts_with("Bearer")),
        "{missing:?}"
    );
    let dpop_challenge = missing
        .challenges
        .iter()
        .find(|c| c.starts_with("DPoP "))
        .unwrap_or_else(|| panic!("no DPoP challenge: {missing:?}"));
    assert!(
        dpop_challenge.contains("algs=\"ES256 RS256 PS256 EdDSA\""),
        "{dpop_challenge}"
    );
    assert!(!dpop_challenge.contains("error="), "{dpop_challenge}");

    // An unbound token as Bearer still works.
    let plain = token(json!({"roles": ["admin"]}));
    let bearer = serve.get_dpop("/me", Some(("Bearer", &plain)), None).await;
    assert_eq!(bearer.status, 200, "{bearer:?}");
    assert!(bearer.json().get("jkt").is_none(), "{bearer:?}");

    // A valid DPoP request: 200, /me has the key's thumbprint; the proof cannot be replayed.
    let (bound, proof, jkt) = bound_token(&["--url", &serve.url("/me"), "--sub", "bob"]).await;
    let ok = serve
        .get_dpop("/me", Some(("DPoP", &bound)), Some(&proof))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["jkt"], jkt, "{ok:?}");
    assert_eq!(ok.json()["sub"], "bob");
    let replay = serve
        .get_dpop("/me", Some(("DPoP", &bound)), Some(&proof))
        .await;
    assert_eq!(replay.status, 401, "{replay:?}");
    assert!(
        replay
            .challenge("DPoP")
            .contains("error=\"invalid_dpop_proof\""),
        "{replay:?}"
    );
    // The bound token as Bearer: refused in allowed mode too.
    let as_bearer = serve.get_dpop("/me", Some(("Bearer", &bound)), None).await;
    assert_eq!(as_bearer.status, 401, "{as_bearer:?}");
    assert_eq!(as_bearer.error(), "invalid_token");
    // DPoP scheme without a proof, or an unbound token as DPoP: refused.
    let no_proof = serve.get_dpop("/me", Some(("DPoP", &bound)), None).await;
    assert_eq!(no_proof.status, 401, "{no_proof:?}");
    assert!(no_proof.challenge("DPoP").contains("algs="));
    let key = TempPath::new("allowed.pem");
    let unbound_proof = mint_proof(key.as_str(), &plain, &["--url", &serve.url("/me")]).await;
    let unbound = serve
        .get_dpop("/me", Some(("DPoP", &plain)), Some(&unbound_proof))
        .await;
    assert_eq!(unbound.status, 401, "{unbound:?}");
    assert_eq!(unbound.error(), "invalid_token", "{unbound:?}");
    // A proof for another URL or method.
    let (bound, wrong_url, _) = bound_token(&["--url", &serve.url("/admin")]).await;
    let mismatch = serve
        .get_dpop("/me", Some(("DPoP", &bound)), Some(&wrong_url))
        .await;
    assert_eq!(mismatch.status, 401, "{mismatch:?}");
    assert_eq!(mismatch.error(), "invalid_dpop_proof");
    let (bound, post, _) = bound_token(&["--url", &serve.url("/me"), "--method", "POST"]).await;
    let wrong_method = serve
        .get_dpop("/me", Some(("DPoP", &bound)), Some(&post))
        .await;
    assert_eq!(
        wrong_method.error(),
        "invalid_dpop_proof",
        "{wrong_method:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_mode_refuses_bearer() {
    let serve = start_serve(&[("AUTH_DPOP", "required")]).await;
    let plain = token(json!({}));
    let bearer = serve.get_dpop("/me", Some(("Bearer", &plain)), None).await;
    assert_eq!(bearer.status, 401, "{bearer:?}");
    let challenge = bearer.challenge("DPoP");
    assert!(
        challenge.contains("algs=\"ES256 RS256 PS256 EdDSA\""),
        "{challenge}"
    );
    let missing = serve.get_dpop("/me", None, None).await;
    assert_eq!(missing.status, 401);
    assert!(missing.challenge("DPoP").contains("algs="), "{missing:?}");

    // `token --dpop` (lines format), then `proof` for more requests with the kept key.
    let key = TempPath::new("required.pem");
    let output = run_async(
        &[
            "token",
            "--secret",
            SECRET,
            "--roles",
            "admin",
            "--dpop",
            "--dpop-key",
            key.as_str(),
            "--url",
            &serve.url("/me"),
        ],
        &[],
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let (bound, first) = (lines[0], lines[1]);
    let ok = serve
        .get_dpop("/me", Some(("DPoP", bound)), Some(first))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let jkt = ok.json()["jkt"].as_str().unwrap().to_owned();
    let admin_proof = mint_proof(key.as_str(), bound, &["--url", &serve.url("/admin")]).await;
    let admin = serve
        .get_dpop("/admin", Some(("DPoP", bound)), Some(&admin_proof))
        .await;
    assert_eq!(admin.status, 200, "{admin:?}");
    // The kept key: a new token bound to it has the same thumbprint.
    let (again, again_proof, again_jkt) =
        bound_token(&["--dpop-key", key.as_str(), "--url", &serve.url("/me")]).await;
    assert_eq!(again_jkt, jkt);
    let ok = serve
        .get_dpop("/me", Some(("DPoP", &again)), Some(&again_proof))
        .await;
    assert_eq!(ok.json()["jkt"], jkt, "{ok:?}");
    // A proof by another key for this token: the binding fails.
    let other = TempPath::new("other.pem");
    let foreign = mint_proof(other.as_str(), &again, &["--url", &serve.url("/me")]).await;
    let mismatch = serve
        .get_dpop("/me", Some(("DPoP", &again)), Some(&foreign))
        .await;
    assert_eq!(mismatch.status, 401, "{mismatch:?}");
    assert_eq!(mismatch.error(), "invalid_dpop_proof");
    // Both schemes at once: 400.
    let both = serve
        .http
        .get(serve.url("/me"))
        .header("authorization", format!("Bearer {plain}"))
        .header("authorization", format!("DPoP {again}"))
        .header("dpop", &again_proof)
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_flow() {
    let serve = start_serve(&[("AUTH_DPOP", "required"), ("AUTH_DPOP_NONCE", "1")]).await;
    let key = TempPath::new("nonce.pem");
    let (bound, first, jkt) =
        bound_token(&["--dpop-key", key.as_str(), "--url", &serve.url("/me")]).await;
    // No nonce: use_dpop_nonce, with a fresh DPoP-Nonce to retry with.
    let asked = serve
        .get_dpop("/me", Some(("DPoP", &bound)), Some(&first))
        .await;
    assert_eq!(asked.status, 401, "{asked:?}");
    assert!(
        asked.challenge("DPoP").contains("error=\"use_dpop_nonce\""),
        "{asked:?}"
    );
    let nonce = asked.nonce.clone().expect("a DPoP-Nonce header");
    assert!(!nonce.is_empty());
    // An unknown or empty nonce: asked again, with a fresh nonce.
    for bad in ["not-a-nonce", ""] {
        let proof_text = mint_proof(
            key.as_str(),
            &bound,
            &["--url", &serve.url("/me"), "--nonce", bad],
        )
        .await;
        let refused = serve
            .get_dpop("/me", Some(("DPoP", &bound)), Some(&proof_text))
            .await;
        assert_eq!(refused.status, 401, "{bad:?}: {refused:?}");
        assert!(
            refused.challenges[0].contains("error=\"use_dpop_nonce\""),
            "{bad:?}: {refused:?}"
        );
        assert!(refused.nonce.is_some(), "{refused:?}");
    }
    // With the nonce: accepted.
    let with_nonce = mint_proof(
        key.as_str(),
        &bound,
        &["--url", &serve.url("/me"), "--nonce", &nonce],
    )
    .await;
    let ok = serve
        .get_dpop("/me", Some(("DPoP", &bound)), Some(&with_nonce))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["jkt"], jkt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_env_format_is_accepted() {
    let serve = start_serve(&[("AUTH_DPOP", "allowed")]).await;
    let output = run_async(
        &[
            "token",
            "--secret",
            SECRET,
            "--dpop",
            "--url",
            &format!("{}?q=1#x", serve.url("/me")),
            "--format",
            "env",
        ],
        &[],
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let var = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name}= in {text}"))
            .to_owned()
    };
    assert_eq!(text.lines().count(), 3, "{text}");
    // The query and fragment are not part of htu: the proof fits the request to /me?q=1 too.
    let ok = serve
        .get_dpop(
            "/me?q=1",
            Some(("DPoP", &var("TOKEN"))),
            Some(&var("PROOF")),
        )
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["jkt"], var("JKT"));
}

#[test]
fn token_and_proof_usage_errors() {
    let fails = |args: &[&str], mention: &str| {
        let output = run(args, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(stderr.contains(mention), "{args:?}: {stderr}");
    };
    fails(
        &["token", "--issuer", "http://127.0.0.1:9", "--dpop"],
        "--dpop is not supported with --issuer",
    );
    fails(
        &["token", "--secret", SECRET, "--dpop", "--url", "ftp://x/"],
        "--url",
    );
    fails(
        &["token", "--secret", SECRET, "--dpop", "--method", "GET /"],
        "--method",
    );
    fails(
        &["token", "--secret", SECRET, "--url", "http://x/"],
        "--dpop",
    );
    fails(
        &["token", "--secret", SECRET, "--dpop", "--claim", "cnf={}"],
        "cnf",
    );
    // A P-384 key is not a proof key serve accepts.
    let p384 = TempPath::new("p384.pem");
    let made = run(&["keys", "--alg", "ES384", "--out", p384.as_str()], &[]);
    assert!(made.status.success(), "{made:?}");
    fails(&["proof", "--dpop-key", p384.as_str()], "ES384");
}

/// `inspect --dpop` names the check that fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_explains_proofs() {
    let url = "http://127.0.0.1:8080/me";
    let key = TempPath::new("inspect.pem");
    let (bound, good, jkt) = bound_token(&["--dpop-key", key.as_str(), "--url", url]).await;
    let inspect = |proof: String, extra: Vec<String>| {
        let bound = bound.clone();
        async move {
            let mut args: Vec<String> = ["inspect", &bound, "--secret", SECRET, "--dpop", &proof]
                .map(str::to_owned)
                .to_vec();
            args.extend(extra);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            run_async(&refs, &[]).await
        }
    };
    let s = |v: &str| v.to_owned();
    let valid = inspect(good.clone(), vec![s("--url"), s(url)]).await;
    assert_eq!(valid.status.code(), Some(0), "{valid:?}");
    assert!(stdout(&valid).contains(&format!("VALID DPoP proof: ES256 signature by key {jkt}")));
    let cases = [
        (
            vec![s("--url"), s(url), s("--method"), s("POST")],
            "htm: the proof is for \"GET\"",
        ),
        (
            vec![s("--url"), s("http://127.0.0.1:8080/admin")],
            "htu: the proof is for \"http://127.0.0.1:8080/me\"",
        ),
        (
            vec![s("--url"), s("https://api.example.com/me")],
            "htu: the proof is for",
        ),
    ];
    for (extra, expected) in cases {
        let output = inspect(good.clone(), extra.clone()).await;
        assert_eq!(output.status.code(), Some(1), "{extra:?}: {output:?}");
        let text = stdout(&output);
        assert!(
            text.contains(&format!("INVALID DPoP proof: {expected}")),
            "{text}"
        );
        assert!(
            text.contains("a server answers 401 invalid_dpop_proof"),
            "{text}"
        );
    }
    // A proof by another key: the binding; for another token: ath.
    let other = TempPath::new("inspect-other.pem");
    let foreign = mint_proof(other.as_str(), &bound, &["--url", url]).await;
    let output = inspect(foreign, vec![s("--url"), s(url)]).await;
    assert!(
        stdout(&output).contains(&format!(
            "INVALID DPoP proof: binding: the token's cnf.jkt \"{jkt}\""
        )),
        "{}",
        stdout(&output)
    );
    let for_other_token = mint_proof(key.as_str(), "another.token.value", &["--url", url]).await;
    let output = inspect(for_other_token, vec![s("--url"), s(url)]).await;
    assert!(
        stdout(&output).contains("INVALID DPoP proof: ath: "),
        "{}",
        stdout(&output)
    );
    // Garbage.
    let output = inspect(s("garbage"), vec![s("--url"), s(url)]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("INVALID DPoP proof: structure: "),
        "{}",
        stdout(&output)
    );
    // An unbound token with a proof.
    let plain = token(json!({}));
    let unbound_proof = mint_proof(key.as_str(), &plain, &["--url", url]).await;
    let output = run_async(
        &[
            "inspect",
            &plain,
            "--secret",
            SECRET,
            "--dpop",
            &unbound_proof,
            "--url",
            url,
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("INVALID DPoP proof: binding: the token has no cnf.jkt"));
    // No key for the token: the proof is still checked, against the binding as decoded.
    let output = run_async(&["inspect", &bound, "--dpop", &good, "--url", url], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("NOT VERIFIED: no key given"), "{text}");
    assert!(
        text.contains("(cnf.jkt, as decoded: the token is NOT VERIFIED)"),
        "{text}"
    );
    let output = run_async(
        &[
            "inspect", &bound, "--dpop", &good, "--url", url, "--method", "PUT",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    // --dpop needs --url; a bad --url is a usage error.
    let output = run_async(&["inspect", &bound, "--dpop", &good], &[]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = run_async(
        &["inspect", &bound, "--dpop", &good, "--url", "ftp://x/"],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    // Without --dpop, a bound token is flagged as such.
    let output = run_async(&["inspect", &bound, "--secret", SECRET], &[]).await;
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains(&format!("DPoP-bound (cnf.jkt {jkt})")));
}
