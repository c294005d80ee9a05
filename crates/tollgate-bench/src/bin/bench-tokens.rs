//! Mints benchmark tokens with the committed keys, one per line on stdout.
//!
//! ```text
//! bench-tokens --alg RS256 --count 1000 [--kind valid|forged|expired|unknown-kid] > tokens.txt
//! bench-tokens --zipf PREFIX [--users 10000] [--requests 1000000] [--s 1.1]
//!              [--refused-percent 5] [--refusal-tokens 1500] [--seed 13]
//! bench-tokens --generate-keys      # writes fresh keys to fixtures/keys.json (done once)
//! bench-tokens --jwks               # prints the public JWK Set
//! ```
//! Tokens carry a distinct `jti` (and `sub`), `exp` in 2100 (2001 for `expired`). Signing runs on
//! every core.
//!
//! `--zipf` writes the `zipf` scenario ([`tollgate_bench::ZipfWorkload`]): `PREFIX.tokens`, the
//! distinct tokens (one per user at two issuers, then the refusals), and `PREFIX.seq`, the
//! request sequence as 1-based line numbers of `PREFIX.tokens` (what wrk's Lua walks).

use std::io::Write as _;

use tollgate_bench::{Issuer, Keys, Kind, TokenSpec, ZipfWorkload, keys_path, mint_as, parse_alg};
use tollgate_core::Algorithm;

fn main() {
    let mut alg = "RS256".to_owned();
    let mut count = 1usize;
    let mut kind = "valid".to_owned();
    let mut zipf: Option<String> = None;
    let mut workload = ZipfWorkload::default();
    let mut args = std::env::args().skip(1);
    let value = |args: &mut std::iter::Skip<std::env::Args>, name: &str| {
        args.next()
            .unwrap_or_else(|| panic!("{name} needs a value"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--alg" => alg = value(&mut args, "--alg"),
            "--count" => count = value(&mut args, "--count").parse().expect("count"),
            "--kind" => kind = value(&mut args, "--kind"),
            "--zipf" => zipf = Some(value(&mut args, "--zipf")),
            "--users" => workload.users = value(&mut args, "--users").parse().expect("users"),
            "--requests" => {
                workload.requests = value(&mut args, "--requests").parse().expect("requests")
            }
            "--s" => workload.s = value(&mut args, "--s").parse().expect("exponent"),
            "--refused-percent" => {
                workload.refused_percent = value(&mut args, "--refused-percent")
                    .parse()
                    .expect("percent")
            }
            "--refusal-tokens" => {
                workload.refusal_tokens =
                    value(&mut args, "--refusal-tokens").parse().expect("count")
            }
            "--seed" => workload.seed = value(&mut args, "--seed").parse().expect("seed"),
            "--generate-keys" => {
                let path = keys_path();
                if path.exists() {
                    panic!(
                        "{} exists; delete it first to replace the keys",
                        path.display()
                    );
                }
                let text = serde_json::to_string_pretty(&Keys::generate()).unwrap();
                std::fs::write(&path, text + "\n").unwrap();
                eprintln!("wrote {}", path.display());
                return;
            }
            "--jwks" => {
                println!("{}", Keys::load().jwks());
                return;
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let keys = Keys::load();
    let mut nonce = [0u8; 6];
    aws_lc_rs::rand::fill(&mut nonce).unwrap();
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(prefix) = zipf {
        write_zipf(&keys, &workload, &prefix, &nonce);
        return;
    }
    let alg = parse_alg(&alg);
    let kind = Kind::parse(&kind);
    let specs: Vec<TokenSpec> = (0..count)
        .map(|index| TokenSpec {
            issuer: Issuer::First,
            kind,
            index,
        })
        .collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for token in mint_all(&keys, alg, &specs, &nonce) {
        writeln!(out, "{token}").unwrap();
    }
    out.flush().unwrap();
}

/// Mints `specs` on every core, in order.
fn mint_all(keys: &Keys, alg: Algorithm, specs: &[TokenSpec], nonce: &str) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = specs.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = specs
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|t| mint_as(keys, t.issuer, alg, t.kind, t.index, nonce))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

fn write_zipf(keys: &Keys, workload: &ZipfWorkload, prefix: &str, nonce: &str) {
    let specs = workload.tokens();
    let tokens = mint_all(keys, Algorithm::RS256, &specs, nonce);
    let write = |path: String, lines: &mut dyn Iterator<Item = String>| {
        let tmp = format!("{path}.tmp");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap());
        for line in lines {
            writeln!(out, "{line}").unwrap();
        }
        out.flush().unwrap();
        drop(out);
        std::fs::rename(&tmp, &path).unwrap();
    };
    write(format!("{prefix}.tokens"), &mut tokens.into_iter());
    let sequence = workload.sequence();
    let refused = sequence
        .iter()
        .filter(|&&i| specs[i as usize].kind != Kind::Valid)
        .count();
    let distinct = {
        let mut seen = vec![false; specs.len()];
        sequence.iter().for_each(|&i| seen[i as usize] = true);
        seen.iter().filter(|&&s| s).count()
    };
    // Written last: run.sh takes an existing `.seq` as "this workload is complete".
    write(
        format!("{prefix}.seq"),
        &mut sequence.iter().map(|i| (i + 1).to_string()),
    );
    eprintln!(
        "zipf: {} tokens ({} users, {} to refuse), {} requests ({} distinct tokens, {:.2}% refused), s = {}, seed {}",
        specs.len(),
        workload.users,
        workload.refusal_tokens,
        sequence.len(),
        distinct,
        100.0 * refused as f64 / sequence.len() as f64,
        workload.s,
        workload.seed
    );
}
