//! `tollgate revoke` and `tollgate revoked`: write and list the revocations that every `serve`
//! instance with `AUTH_REVOCATION_REDIS_URL` enforces (through `tollgate-redis`).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgGroup, Args};
use serde_json::{Value, json};
use tollgate_redis::{RevocationWriter, TlsOptions, WriterOptions};

use crate::Failure;
use crate::time;

/// How long a token revoked by `--jti` alone stays revoked: its `exp` is unknown, so the entry
/// must outlive any token it could name. 24 h covers access tokens of every common issuer
/// (minutes to an hour, a day at most); pass `--exp` (or `--token`) for longer-lived ones.
const JTI_DEFAULT_LIFETIME: i64 = 24 * 3600;

/// Bound on each Redis call (connect, write, read). The whole command is bounded by
/// [`COMMAND_TIMEOUT`], so a Redis that is down fails it within 3 s.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest token `--token` reads (a JWT this large is not a real access token).
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Largest `--redis-ca` file read (a CA bundle is a few hundred KiB at most).
const MAX_CA_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["jti", "sub", "client", "token"])))]
pub(crate) struct RevokeArgs {
    /// The Redis every `serve` instance reads (AUTH_REVOCATION_REDIS_URL):
    /// redis://host[:port][/db], or rediss:// for TLS (the server's certificate is verified
    /// against the system trust store, or --redis-ca).
    #[arg(long, value_name = "URL")]
    redis: String,
    /// With rediss://: trust only the CA certificate(s) in this PEM file (a provider's own CA,
    /// such as Redis Cloud's) instead of the system trust store.
    #[arg(long, value_name = "FILE")]
    redis_ca: Option<PathBuf>,
    /// Revoke one token by its `jti`, until --exp (default: now + 24 h).
    #[arg(long, value_name = "ID")]
    jti: Option<String>,
    /// With --jti: the token's `exp` (Unix seconds); the entry is dropped after it.
    #[arg(long, value_name = "UNIX", requires = "jti")]
    exp: Option<i64>,
    /// Revoke one token given whole (`-` reads stdin): its `jti` and `exp` are read without
    /// verifying it.
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Revoke every token of this subject issued before --before (its `iat`; a token without
    /// `iat` is refused too).
    #[arg(long, value_name = "SUB")]
    sub: Option<String>,
    /// Revoke every token of this client (`client_id` or `azp`) issued before --before.
    #[arg(long, value_name = "ID")]
    client: Option<String>,
    /// With --sub or --client: the instant (Unix seconds); tokens with `iat` < it are refused,
    /// `iat` equal or later accepted. Default: now (everything issued until now).
    #[arg(long, value_name = "UNIX_SECONDS", allow_negative_numbers = true)]
    before: Option<i64>,
}

#[derive(Debug, Args)]
pub(crate) struct RevokedArgs {
    /// The Redis every `serve` instance reads (AUTH_REVOCATION_REDIS_URL), redis:// or
    /// rediss:// (TLS).
    #[arg(long, value_name = "URL")]
    redis: String,
    /// With rediss://: trust only the CA certificate(s) in this PEM file instead of the system
    /// trust store.
    #[arg(long, value_name = "FILE")]
    redis_ca: Option<PathBuf>,
    /// Print one JSON object (`tokens`, `subjects`, `clients`, each sorted) instead of lines.
    #[arg(long)]
    json: bool,
}

/// What to revoke, once the arguments are checked.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Token { jti: String, exp: i64 },
    Subject { sub: String, before: i64 },
    Client { id: String, before: i64 },
}

impl RevokeArgs {
    fn target(&self, now: i64) -> Result<Target, Failure> {
        if self.before.is_some() && self.sub.is_none() && self.client.is_none() {
            return Err(Failure::config(
                "--before goes with --sub or --client (a token by --jti is revoked until --exp)",
            ));
        }
        let before = self.before.unwrap_or(now);
        if let Some(sub) = &self.sub {
            return Ok(Target::Subject {
                sub: sub.clone(),
                before,
            });
        }
        if let Some(id) = &self.client {
            return Ok(Target::Client {
                id: id.clone(),
                before,
            });
        }
        if let Some(jti) = &self.jti {
            return Ok(Target::Token {
                jti: jti.clone(),
                exp: self.exp.unwrap_or(now + JTI_DEFAULT_LIFETIME),
            });
        }
        match &self.token {
            Some(token) => token_target(token, now),
            // clap's group requires one of them.
            None => Err(Failure::config(
                "say what to revoke: --jti, --token, --sub or --client",
            )),
        }
    }
}

/// `jti` and `exp` of a token, decoded without verification: revoking a token needs no trust
/// in it (a forged token naming someone else's `jti` only revokes that token, which an operator
/// asked for by pasting it).
fn token_target(arg: &str, now: i64) -> Result<Target, Failure> {
    let token = crate::inspect::read_token(arg)?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Failure::config(format!(
            "--token is {} bytes, more than the {MAX_TOKEN_BYTES} accepted",
            token.len()
        )));
    }
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| Failure::config("--token is not a JWT (header.payload.signature)"))?;
    let claims = crate::inspect::segment_object(payload)
        .map_err(|why| Failure::config(format!("--token: the claims are {why}")))?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|jti| !jti.is_empty())
        .ok_or_else(|| {
            Failure::config(
                "--token has no jti: revoke its subject (--sub) or client (--client) instead",
            )
        })?;
    let exp = match claims.get("exp") {
        None => now + JTI_DEFAULT_LIFETIME,
        Some(exp) => exp
            .as_i64()
            .ok_or_else(|| Failure::config("--token: exp is not a whole number of seconds"))?,
    };
    Ok(Target::Token {
        jti: jti.to_owned(),
        exp,
    })
}

/// The TLS options of `--redis-ca` (none: the system trust store). An unreadable file is a
/// usage error; one without a certificate is refused by the writer (also a usage error).
fn tls_options(ca: Option<&Path>) -> Result<TlsOptions, Failure> {
    let Some(path) = ca else {
        return Ok(TlsOptions::default());
    };
    let unreadable =
        |e: std::io::Error| Failure::config(format!("--redis-ca {}: {e}", path.display()));
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_CA_BYTES + 1).read_to_end(&mut pem))
        .map_err(unreadable)?;
    if pem.len() as u64 > MAX_CA_BYTES {
        return Err(Failure::config(format!(
            "--redis-ca {}: larger than {MAX_CA_BYTES} bytes",
            path.display()
        )));
    }
    Ok(TlsOptions::default().ca_certificate(pem))
}

async fn connect(url: &str, ca: Option<&Path>) -> Result<RevocationWriter, Failure> {
    let options = WriterOptions {
        timeout: CALL_TIMEOUT,
        tls: tls_options(ca)?,
        ..WriterOptions::default()
    };
    RevocationWriter::connect_with(url, options)
        .await
        .map_err(|e| redis_failure("--redis", &e))
}

/// A bad URL is a usage error (2); anything else (Redis down, refused) a runtime one (1).
fn redis_failure(context: &str, error: &tollgate_redis::RedisError) -> Failure {
    match error {
        tollgate_redis::RedisError::InvalidUrl(_)
        | tollgate_redis::RedisError::InvalidArgument(_)
        | tollgate_redis::RedisError::InvalidOption(_) => {
            Failure::config(format!("{context}: {error}"))
        }
        _ => Failure::runtime(format!("{context}: {error}")),
    }
}

/// Runs `work` within [`COMMAND_TIMEOUT`].
fn bounded<T>(work: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    crate::runtime()?.block_on(async {
        tokio::time::timeout(COMMAND_TIMEOUT, work)
            .await
            .unwrap_or_else(|_| {
                Err(Failure::runtime(format!(
                    "Redis did not answer within {} s",
                    COMMAND_TIMEOUT.as_secs()
                )))
            })
    })
}

pub(crate) fn run_revoke(args: RevokeArgs) -> Result<(), Failure> {
    let now = time::now();
    let target = args.target(now)?;
    crate::init_logging("warn");
    bounded(async {
        let writer = connect(&args.redis, args.redis_ca.as_deref()).await?;
        let stored = match &target {
            Target::Token { jti, exp } => writer.revoke_token(jti, *exp).await,
            Target::Subject { sub, before } => writer.revoke_subject(sub, *before).await,
            Target::Client { id, before } => writer.revoke_client(id, *before).await,
        };
        stored.map_err(|e| redis_failure("revoke", &e))
    })?;
    // Printed only once Redis has stored and published it: the exit status and this line mean
    // the same thing.
    match target {
        Target::Token { jti, exp } => println!(
            "revoked token {jti} (kept until its exp, {})",
            time::describe(exp, now)
        ),
        Target::Subject { sub, before } => println!(
            "revoked subject {sub}: tokens issued before {before} ({}) are refused",
            time::describe(before, now)
        ),
        Target::Client { id, before } => println!(
            "revoked client {id}: tokens issued before {before} ({}) are refused",
            time::describe(before, now)
        ),
    }
    Ok(())
}

/// Sorted by name, for stable output.
fn sorted(map: &std::collections::HashMap<String, i64>) -> Vec<(&str, i64)> {
    let mut entries: Vec<(&str, i64)> = map.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    entries.sort_unstable();
    entries
}

pub(crate) fn run_revoked(args: RevokedArgs) -> Result<(), Failure> {
    crate::init_logging("warn");
    let rules = bounded(async {
        let writer = connect(&args.redis, args.redis_ca.as_deref()).await?;
        writer
            .list()
            .await
            .map_err(|e| redis_failure("revoked", &e))
    })?;
    let tokens = sorted(&rules.tokens);
    let subjects = sorted(&rules.subjects);
    let clients = sorted(&rules.clients);
    if args.json {
        let entries = |list: &[(&str, i64)], id: &str, at: &str| -> Vec<Value> {
            list.iter().map(|(k, v)| json!({ id: k, at: v })).collect()
        };
        let out = json!({
            "tokens": entries(&tokens, "jti", "exp"),
            "subjects": entries(&subjects, "sub", "before"),
            "clients": entries(&clients, "client", "before"),
        });
        println!("{out}");
        return Ok(());
    }
    let now = time::now();
    println!(
        "{} tokens, {} subjects, {} clients revoked",
        tokens.len(),
        subjects.len(),
        clients.len()
    );
    for (jti, exp) in tokens {
        println!("token   {jti}  until {exp} ({})", time::describe(exp, now));
    }
    for (sub, before) in subjects {
        println!(
            "subject {sub}  issued before {before} ({})",
            time::describe(before, now)
        );
    }
    for (id, before) in clients {
        println!(
            "client  {id}  issued before {before} ({})",
            time::describe(before, now)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: RevokeArgs,
    }

    fn target(args: &[&str]) -> Result<Target, String> {
        let mut argv = vec!["revoke", "--redis", "redis://127.0.0.1"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        cli.args.target(1_000).map_err(|f| f.message)
    }

    #[test]
    fn defaults_and_exclusive_targets() {
        assert_eq!(
            target(&["--sub", "u"]).unwrap(),
            Target::Subject {
                sub: "u".into(),
                before: 1_000
            }
        );
        assert_eq!(
            target(&["--client", "c", "--before", "7"]).unwrap(),
            Target::Client {
                id: "c".into(),
                before: 7
            }
        );
        assert_eq!(
            target(&["--jti", "j"]).unwrap(),
            Target::Token {
                jti: "j".into(),
                exp: 1_000 + JTI_DEFAULT_LIFETIME
            }
        );
        assert_eq!(
            target(&["--jti", "j", "--exp", "5000"]).unwrap(),
            Target::Token {
                jti: "j".into(),
                exp: 5_000
            }
        );
        assert!(target(&[]).is_err());
        assert!(target(&["--sub", "u", "--client", "c"]).is_err());
        assert!(target(&["--exp", "5"]).is_err());
        assert!(
            target(&["--jti", "j", "--before", "5"])
                .unwrap_err()
                .contains("--before")
        );
    }

    #[test]
    fn a_token_gives_its_jti_and_exp() {
        use base64::Engine as _;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = |claims: &str| format!("{}.{}.sig", b64(r#"{"alg":"none"}"#), b64(claims));
        assert_eq!(
            target(&["--token", &token(r#"{"jti":"t-1","exp":4000}"#)]).unwrap(),
            Target::Token {
                jti: "t-1".into(),
                exp: 4_000
            }
        );
        assert_eq!(
            target(&["--token", &format!("Bearer {}", token(r#"{"jti":"t-2"}"#))]).unwrap(),
            Target::Token {
                jti: "t-2".into(),
                exp: 1_000 + JTI_DEFAULT_LIFETIME
            }
        );
        assert!(
            target(&["--token", &token(r#"{"sub":"u"}"#)])
                .unwrap_err()
                .contains("no jti")
        );
        assert!(target(&["--token", &token(r#"{"jti":"t","exp":1.5}"#)]).is_err());
        assert!(target(&["--token", "not-a-jwt"]).is_err());
        let huge = token(&format!(r#"{{"jti":"{}"}}"#, "x".repeat(MAX_TOKEN_BYTES)));
        assert!(target(&["--token", &huge]).unwrap_err().contains("bytes"));
    }
}
