//! `tollgate demo`: a dev issuer and the protected API in one process, wired through the real
//! remote-key path (OIDC discovery, then the issuer's JWKS over HTTP).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use tollgate::core::remote::OidcSource;
use tollgate::core::{Algorithm, CryptoProvider, Validation, Verifier};
use tollgate::testing::DevIssuer;

use crate::Failure;

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the protected API listens (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:3000", value_name = "HOST:PORT")]
    bind: String,
}

pub(crate) fn run(args: DemoArgs) -> Result<(), Failure> {
    let bind = crate::serve::parse_bind(&args.bind, "--bind").map_err(Failure::config)?;
    let runtime = crate::runtime()?;
    crate::init_logging("warn");
    runtime.block_on(demo(bind))
}

/// The shell-quoted `Authorization` header for `token`.
fn bearer(token: &str) -> String {
    format!("-H 'Authorization: Bearer {token}'")
}

async fn demo(bind: SocketAddr) -> Result<(), Failure> {
    let issuer = DevIssuer::start()
        .await
        .map_err(|e| Failure::runtime(format!("cannot start the dev issuer: {e}")))?;
    // The same path a production service takes: discovery document, then its jwks_uri.
    let keys = OidcSource::discover(issuer.issuer())
        .await
        .map_err(|e| Failure::runtime(format!("discovery against the dev issuer failed: {e}")))?;
    let validation = Validation::builder([Algorithm::ES256, Algorithm::RS256])
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .leeway(Duration::ZERO)
        .build()
        .map_err(|e| Failure::config(format!("invalid policy: {e}")))?;
    // Roles at `roles`, scopes at `scope` and `scp`: the default AccessClaims.
    let verifier = Verifier::new(validation, keys, CryptoProvider::default());
    let app = crate::api::router(verifier, None);
    let listener = crate::api::bind(bind)
        .await
        .map_err(|e| Failure::runtime(format!("{e} (pick another with --bind 127.0.0.1:0)")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::runtime(format!("cannot read the bound address: {e}")))?;

    let sign = |builder: tollgate::testing::TokenBuilder| {
        builder
            .sign()
            .map_err(|e| Failure::runtime(format!("cannot mint a demo token: {e}")))
    };
    let user = sign(
        issuer
            .token()
            .subject("alice")
            .roles(["user"])
            .scopes(["read:items"]),
    )?;
    let admin = sign(
        issuer
            .token()
            .subject("bob")
            .roles(["admin", "user"])
            .algorithm(Algorithm::RS256),
    )?;
    let expired = sign(issuer.token().subject("carol").roles(["admin"]).expired())?;

    let api = format!("http://{addr}");
    let iss = issuer.issuer();
    let aud = issuer.audience();
    let lines = [
        "Tollgate demo: a dev issuer and a protected API in one process.".to_owned(),
        format!("  dev issuer     {iss}  (/.well-known/openid-configuration, /.well-known/jwks.json, /token)"),
        format!("  protected API  {api}  (finds the issuer's keys by OIDC discovery, over HTTP)"),
        format!("  policy         iss {iss}, aud {aud}, ES256 or RS256, roles from `roles`, leeway 0 s"),
        String::new(),
        "# no token needed".to_owned(),
        format!("curl -i {api}/public  # expect 200"),
        "# no token: 401 with a bare `WWW-Authenticate: Bearer realm=\"api\"` challenge".to_owned(),
        format!("curl -i {api}/me  # expect 401"),
        "# alice, a user (ES256): /me shows her claims; /admin needs the admin role".to_owned(),
        format!("curl -i {api}/me {}  # expect 200", bearer(&user)),
        format!("curl -i {api}/admin {}  # expect 403 insufficient_scope", bearer(&user)),
        "# bob, an admin (RS256)".to_owned(),
        format!("curl -i {api}/admin {}  # expect 200", bearer(&admin)),
        "# carol's token expired an hour ago".to_owned(),
        format!("curl -i {api}/me {}  # expect 401 invalid_token", bearer(&expired)),
        "# a token that is not a token".to_owned(),
        format!("curl -i {api}/me {}  # expect 401 invalid_token", bearer("not.a.jwt")),
        String::new(),
        "# more tokens, from the dev issuer (sub, roles, scope, ttl in seconds, alg ES256 or RS256):".to_owned(),
        format!("curl '{iss}/token?sub=dave&roles=admin,editor&scope=read%20write&ttl=600&alg=RS256'  # expect 200"),
        "# or with this tool (`cargo run -q -p tollgate-cli --` instead of `tollgate` from a checkout):".to_owned(),
        format!("tollgate token --issuer {iss} --sub dave --roles admin,editor --ttl 600"),
        "# why is a token refused? decode it and run every check:".to_owned(),
        format!("tollgate inspect <token> --issuer {iss} --audience {aud}"),
        String::new(),
        format!("ready: serving {api} (Ctrl-C to stop)"),
    ];
    for line in lines {
        println!("{line}");
    }
    crate::api::serve(listener, app)
        .await
        .map_err(Failure::runtime)?;
    drop(issuer);
    Ok(())
}
