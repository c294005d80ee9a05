//! Mints benchmark tokens with the committed keys, one per line on stdout.
//!
//! ```text
//! bench-tokens --alg RS256 --count 1000 [--kind valid|forged|expired|unknown-kid] > tokens.txt
//! bench-tokens --generate-keys      # writes fresh keys to fixtures/keys.json (done once)
//! bench-tokens --jwks               # prints the public JWK Set
//! ```
//! Tokens carry a distinct `jti` (and `sub`), `exp` in 2100 (2001 for `expired`). Signing runs on
//! every core.

use std::io::Write as _;

use tollgate_bench::{Keys, Kind, keys_path, mint, parse_alg};

fn main() {
    let mut alg = "RS256".to_owned();
    let mut count = 1usize;
    let mut kind = "valid".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--alg" => alg = args.next().expect("--alg value"),
            "--count" => count = args.next().expect("--count value").parse().expect("count"),
            "--kind" => kind = args.next().expect("--kind value"),
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
    let alg = parse_alg(&alg);
    let kind = Kind::parse(&kind);
    let keys = Keys::load();
    let mut nonce = [0u8; 6];
    aws_lc_rs::rand::fill(&mut nonce).unwrap();
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    let tokens: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                let (keys, nonce) = (&keys, &nonce);
                scope.spawn(move || {
                    (start..(start + chunk).min(count))
                        .map(|i| mint(keys, alg, kind, i, nonce))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for token in tokens {
        writeln!(out, "{token}").unwrap();
    }
    out.flush().unwrap();
}
