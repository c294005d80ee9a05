//! `tollgate`: see Tollgate work in one command, run it as a standalone service, and debug tokens.
//!
//! - `tollgate demo`: a dev issuer and a protected API in one process, with ready-to-paste curls;
//! - `tollgate serve`: the protected API, configured only by environment variables;
//! - `tollgate token` / `tollgate keys`: mint development tokens, generate key pairs;
//! - `tollgate proof`: mint DPoP proofs for tokens bound with `tollgate token --dpop`;
//! - `tollgate inspect`: decode a token and say exactly which check refuses it;
//! - `tollgate revoke` / `tollgate revoked`: revoke tokens in the Redis `serve` instances share,
//!   and list what is revoked.

#![forbid(unsafe_code)]

mod api;
mod demo;
mod dpop;
mod inspect;
mod keys;
mod revoke;
mod serve;
mod time;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Bearer-token (JWT) authentication for tower and axum: demo, standalone server, token tools.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a dev issuer and a protected API wired to it; print curls to try (Ctrl-C stops).
    Demo(demo::DemoArgs),
    /// Run the protected API, configured only by environment variables (see --help).
    #[command(long_about = serve::LONG_ABOUT)]
    Serve,
    /// Mint a development token (from a key file, a shared secret, or a demo issuer); with
    /// --dpop, bound to a key, with a DPoP proof.
    Token(token::TokenArgs),
    /// Mint a DPoP proof (RFC 9449) with a kept key, for one more request with a bound token.
    Proof(dpop::ProofArgs),
    /// Generate a signing key pair: the private key to a PEM file, the public JWK Set to stdout.
    Keys(keys::KeysArgs),
    /// Decode a token, then verify it and say exactly which check fails and why.
    Inspect(inspect::InspectArgs),
    /// Revoke a token (--jti, --token), a subject's or a client's tokens, in the Redis that
    /// `serve` instances with AUTH_REVOCATION_REDIS_URL share; exits 0 once stored and published.
    Revoke(revoke::RevokeArgs),
    /// List the revoked tokens, subjects and clients in that Redis.
    Revoked(revoke::RevokedArgs),
}

/// A command's failure: the exit code and a one-line reason for stderr.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    /// A usage or configuration error (exit code 2).
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    /// A runtime failure (exit code 1).
    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }

    /// Exits with `code` and prints nothing more (the command already reported).
    pub(crate) fn silent(code: u8) -> Self {
        Failure {
            code,
            message: String::new(),
        }
    }
}

/// A tokio runtime for one command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))
}

/// Logs to stderr, filtered by `RUST_LOG` (default `default_filter`).
pub(crate) fn init_logging(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Serve => serve::run(),
        Command::Token(args) => token::run(args),
        Command::Proof(args) => dpop::run_proof(args),
        Command::Keys(args) => keys::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Revoke(args) => revoke::run_revoke(args),
        Command::Revoked(args) => revoke::run_revoked(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                // One line, whatever the underlying error printed.
                let line = failure.message.replace(['\n', '\r'], " ");
                eprintln!("tollgate: error: {line}");
            }
            ExitCode::from(failure.code)
        }
    }
}
