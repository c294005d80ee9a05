#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `tollgate keys`, `token` and `inspect`: keys and tokens round-trip, and `inspect` names the
//! failing check for expired, wrong aud, wrong iss, bad signature and unknown kid.

mod support;

use std::path::PathBuf;
use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use support::{run, run_async, stderr, stdout};
use tollgate::core::Algorithm;
use tollgate::testing::DevIssuer;

const SECRET: &str = "tools-test-secret-0123456789abcdef-0123";

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tollgate-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn token_of(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    let text = stdout(output);
    assert_eq!(text.lines().count(), 1, "the token only: {text:?}");
    text.trim().to_owned()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// Runs inspect; returns (exit code, stdout).
async fn inspect(token: &str, options: &[&str]) -> (i32, String) {
    let mut args = vec!["inspect", token];
    args.extend_from_slice(options);
    let output = run_async(&args, &[]).await;
    (output.status.code().unwrap_or(-1), stdout(&output))
}

/// The `INVALID: ...` line.
fn verdict(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("INVALID: ") || l.starts_with("VALID: "))
        .unwrap_or_else(|| panic!("no verdict in {text}"))
}

#[test]
fn keys_then_token_then_inspect_round_trip() {
    let dir = TempDir::new("keys");
    for alg in ["ES256", "EdDSA", "RS256", "PS256", "ES384"] {
        let pem = dir.path(&format!("{alg}.pem"));
        let output = run(&["keys", "--alg", alg, "--out", &pem], &[]);
        assert!(output.status.success(), "{output:?}");
        let jwks: Value = serde_json::from_slice(&output.stdout).unwrap();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["alg"], alg);
        assert!(
            jwk.get("d").is_none(),
            "no private member in the JWKS: {jwk}"
        );
        let kid = jwk["kid"].as_str().unwrap().to_owned();
        assert!(stderr(&output).contains(&pem), "says where the key went");
        assert!(
            std::fs::read_to_string(&pem)
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&pem).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "private key readable by others: {mode:o}");
        }
        let jwks_file = dir.path(&format!("{alg}.json"));
        std::fs::write(&jwks_file, jwks.to_string()).unwrap();

        // --alg is inferred from the key for everything but PS256; the kid is the thumbprint.
        let mut args = vec![
            "token",
            "--key",
            &pem,
            "--iss",
            "https://iss.example",
            "--aud",
            "api",
            "--sub",
            "alice",
            "--roles",
            "admin,ops",
            "--scope",
            "read write",
            "--ttl",
            "120",
            "--claim",
            "tenant=acme",
            "--claim",
            "realm_access={\"roles\":[\"x\"]}",
        ];
        if alg == "PS256" {
            args.extend_from_slice(&["--alg", "PS256"]);
        }
        let token = token_of(&run(&args, &[]));
        let header = header_of(&token);
        assert_eq!(header["alg"], alg);
        assert_eq!(header["kid"], kid.as_str());
        let claims = claims_of(&token);
        assert_eq!(claims["iss"], "https://iss.example");
        assert_eq!(claims["aud"], "api");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["roles"], json!(["admin", "ops"]));
        assert_eq!(claims["scope"], "read write");
        assert_eq!(claims["tenant"], "acme");
        assert_eq!(claims["realm_access"], json!({"roles": ["x"]}));
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            120
        );

        let policy = ["--iss", "https://iss.example", "--audience", "api"];
        let mut with_jwks = vec!["inspect", &token, "--jwks", &jwks_file];
        with_jwks.extend_from_slice(&policy);
        let output = run(&with_jwks, &[]);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        assert!(stdout(&output).contains(&format!("VALID: signature verified with key {kid}")));
        // The private key file verifies too (its public half is used).
        let mut with_key = vec!["inspect", &token, "--key-file", &pem];
        with_key.extend_from_slice(&policy);
        assert_eq!(run(&with_key, &[]).status.code(), Some(0));
    }
    // An existing file is not overwritten without --force.
    let pem = dir.path("ES256.pem");
    let again = run(&["keys", "--out", &pem], &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("--force"), "{again:?}");
    assert!(
        run(&["keys", "--out", &pem, "--force"], &[])
            .status
            .success()
    );
    // Shared-secret algorithms have no key pair.
    assert_eq!(run(&["keys", "--alg", "HS256"], &[]).status.code(), Some(2));
}

#[test]
fn token_option_errors() {
    let code = |args: &[&str]| run(args, &[]).status.code();
    assert_eq!(code(&["token"]), Some(2), "a signer is required");
    assert_eq!(code(&["token", "--secret", "short"]), Some(2));
    assert_eq!(
        code(&["token", "--secret", SECRET, "--key", "x.pem"]),
        Some(2)
    );
    assert_eq!(
        code(&["token", "--secret", SECRET, "--alg", "RS256"]),
        Some(2)
    );
    assert_eq!(code(&["token", "--key", "/nonexistent/key.pem"]), Some(2));
    assert_eq!(
        code(&["token", "--secret", SECRET, "--alg", "XX999"]),
        Some(2)
    );
    assert_eq!(
        code(&["token", "--secret", SECRET, "--claim", "novalue"]),
        Some(2)
    );
    // Nothing listens on port 9.
    assert_eq!(code(&["token", "--issuer", "http://127.0.0.1:9"]), Some(1));
    let expired = token_of(&run(&["token", "--secret", SECRET, "--ttl", "-30"], &[]));
    let claims = claims_of(&expired);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        -30
    );
    assert_eq!(claims["sub"], "dev-user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_from_a_dev_issuer() {
    let issuer = DevIssuer::start().await.unwrap();
    let output = run_async(
        &[
            "token",
            "--issuer",
            issuer.issuer(),
            "--sub",
            "erin",
            "--roles",
            "admin",
            "--scope",
            "a,b",
            "--ttl",
            "90",
            "--alg",
            "RS256",
            "--aud",
            "api",
        ],
        &[],
    )
    .await;
    let token = token_of(&output);
    assert_eq!(header_of(&token)["alg"], "RS256");
    let claims = claims_of(&token);
    assert_eq!(claims["iss"], issuer.issuer());
    assert_eq!(claims["sub"], "erin");
    assert_eq!(claims["roles"], json!(["admin"]));
    assert_eq!(claims["scope"], "a b");
    assert_eq!(claims["aud"], "api");
    let (code, text) = inspect(&token, &["--issuer", issuer.issuer(), "--audience", "api"]).await;
    assert_eq!(code, 0, "{text}");
    // Options the issuer does not take are refused rather than ignored.
    let refused = run_async(&["token", "--issuer", issuer.issuer(), "--iss", "x"], &[]).await;
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_names_the_failing_check() {
    let issuer = DevIssuer::start().await.unwrap();
    let jwks = issuer.jwks_url();
    let iss = issuer.issuer().to_owned();
    let with_jwks = ["--jwks", jwks.as_str()];

    // Valid; the decoded part shows time claims as RFC 3339 plus relative time.
    let valid = issuer.token().subject("alice").sign().unwrap();
    let kid = header_of(&valid)["kid"].as_str().unwrap().to_owned();
    let policy = [
        "--jwks",
        jwks.as_str(),
        "--iss",
        iss.as_str(),
        "--audience",
        "tollgate-dev",
    ];
    let (code, text) = inspect(&valid, &policy).await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        verdict(&text),
        format!("VALID: signature verified with key {kid} (ES256); every claim check passed")
    );
    let exp_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("exp: "))
        .unwrap();
    assert!(exp_line.contains("Z (in "), "{exp_line}");
    assert!(text.contains("  sub: \"alice\""), "{text}");

    // Expired.
    let expired = issuer.token().expired().sign().unwrap();
    let (code, text) = inspect(&expired, &with_jwks).await;
    assert_eq!(code, 1, "{text}");
    let line = verdict(&text);
    assert!(line.starts_with("INVALID: expired: exp 20"), "{line}");
    assert!(line.ends_with("Z is 1 h in the past; leeway 0 s"), "{line}");
    assert!(
        text.contains("a server answers 401 invalid_token"),
        "{text}"
    );
    // Expired 10 s ago: accepted with --leeway 30.
    let late = issuer.token().ttl_secs(-10).sign().unwrap();
    let (code, text) = inspect(&late, &["--jwks", &jwks, "--leeway", "30"]).await;
    assert_eq!(code, 0, "{text}");

    // Wrong audience.
    let (code, text) = inspect(&valid, &["--jwks", &jwks, "--audience", "other-api"]).await;
    assert_eq!(code, 1);
    assert_eq!(
        verdict(&text),
        "INVALID: audience: token aud [\"tollgate-dev\"] does not contain any of [\"other-api\"]"
    );

    // Wrong issuer.
    let (code, text) = inspect(&valid, &["--jwks", &jwks, "--iss", "https://other.example"]).await;
    assert_eq!(code, 1);
    assert_eq!(
        verdict(&text),
        format!("INVALID: issuer: token iss \"{iss}\" is not \"https://other.example\"")
    );

    // Bad signature: the claims were changed after signing.
    let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let mut claims = claims_of(&valid);
    claims["sub"] = json!("mallory");
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = parts.join(".");
    let (code, text) = inspect(&tampered, &with_jwks).await;
    assert_eq!(code, 1);
    assert_eq!(
        verdict(&text),
        format!("INVALID: signature: does not verify with key {kid} (JWKS {jwks})")
    );
    assert!(
        text.contains("sub: \"mallory\""),
        "decoded before verifying: {text}"
    );

    // Unknown kid: another issuer's token.
    let stranger = DevIssuer::start().await.unwrap();
    let foreign = stranger.token().sign().unwrap();
    let foreign_kid = header_of(&foreign)["kid"].as_str().unwrap().to_owned();
    let (code, text) = inspect(&foreign, &with_jwks).await;
    assert_eq!(code, 1);
    let line = verdict(&text);
    assert!(
        line.starts_with(&format!(
            "INVALID: key: no key with kid \"{foreign_kid}\" in JWKS {jwks} (it has: "
        )),
        "{line}"
    );
    assert!(line.contains(&kid), "lists the kids it has: {line}");

    // Algorithm outside --alg.
    let rs = issuer.token().algorithm(Algorithm::RS256).sign().unwrap();
    let (code, text) = inspect(&rs, &["--jwks", &jwks, "--alg", "ES256"]).await;
    assert_eq!(code, 1);
    assert!(
        verdict(&text)
            .starts_with("INVALID: algorithm: \"RS256\" is not in the allow-list [ES256]")
    );
    let (code, _) = inspect(&rs, &["--jwks", &jwks, "--alg", "ES256,RS256"]).await;
    assert_eq!(code, 0);

    // HS256 with --secret.
    let hs = token_of(&run_async(&["token", "--secret", SECRET, "--aud", "api"], &[]).await);
    let (code, text) = inspect(&hs, &["--secret", SECRET, "--audience", "api"]).await;
    assert_eq!(code, 0, "{text}");
    let (code, text) = inspect(&hs, &["--secret", "another-secret-0123456789abcdef-0123"]).await;
    assert_eq!(code, 1);
    assert!(
        verdict(&text).starts_with("INVALID: signature: does not verify with key hmac"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_without_keys_and_usage_errors() {
    let issuer = DevIssuer::start().await.unwrap();
    let token = issuer.token().expired().sign().unwrap();

    // No key option: decoded only, and said so.
    let (code, text) = inspect(&token, &[]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("NOT VERIFIED"), "{text}");
    assert!(text.contains("(1 h ago)"), "{text}");
    // `Bearer <token>` on stdin.
    let mut command = tokio::process::Command::from(support::command(&["inspect", "-"], &[]));
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("Bearer {token}\n").as_bytes())
            .await
            .unwrap();
    }
    let output = child.wait_with_output().await.unwrap();
    assert!(
        stdout(&output).contains("  sub: \"dev-user\""),
        "{output:?}"
    );

    // Not a token at all: shows what it can, never crashes.
    for garbage in ["garbage", "a.b.c", "....", "eyJhbGciOiJub25lIn0.e30."] {
        let (code, text) = inspect(garbage, &[]).await;
        assert_eq!(
            code,
            if garbage.starts_with("eyJ") { 0 } else { 1 },
            "{garbage}: {text}"
        );
        let (code, text) = inspect(garbage, &["--secret", SECRET]).await;
        assert_eq!(code, 1, "{garbage}: {text}");
        assert!(verdict(&text).starts_with("INVALID: "), "{text}");
    }

    // Usage and configuration errors: exit 2.
    let two = run_async(
        &["inspect", &token, "--secret", SECRET, "--jwks", "x.json"],
        &[],
    )
    .await;
    assert_eq!(two.status.code(), Some(2), "{two:?}");
    let down = run_async(
        &["inspect", &token, "--jwks", "http://127.0.0.1:9/jwks.json"],
        &[],
    )
    .await;
    assert_eq!(down.status.code(), Some(2), "{down:?}");
    assert_eq!(stderr(&down).lines().count(), 1, "{down:?}");
    assert!(
        stderr(&down).contains("cannot fetch the JWK Set"),
        "{down:?}"
    );
    let leeway = run_async(
        &["inspect", &token, "--secret", SECRET, "--leeway", "9999"],
        &[],
    )
    .await;
    assert_eq!(leeway.status.code(), Some(2), "{leeway:?}");
}

/// `inspect` reads pasted text leniently (the core's `parse_lenient`, by an explicit call), and
/// says when a server's strict RFC 6750 reading would refuse what it was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_reads_pasted_bearer_text_and_flags_what_servers_refuse() {
    let issuer = DevIssuer::start().await.unwrap();
    let token = issuer.token().sign().unwrap();
    for pasted in [format!("BEARER\t{token}\n"), format!("  bearer   {token} ")] {
        let (code, text) = inspect(&pasted, &[]).await;
        assert_eq!(code, 0, "{pasted:?}: {text}");
        assert!(text.contains("  sub: \"dev-user\""), "{pasted:?}: {text}");
        assert!(
            !text.contains("not an RFC 6750 token"),
            "{pasted:?}: {text}"
        );
    }
    // Quoted, or with a space inside: shown as far as it decodes, and flagged.
    for odd in [format!("\"{token}\""), format!("{token} x")] {
        let (_, text) = inspect(&odd, &[]).await;
        assert!(text.contains("not an RFC 6750 token"), "{odd:?}: {text}");
    }
}
