//! A plain-HTTP client for the suites that drive an app served on loopback: a GET or POST with
//! an optional bearer token, answered as status, challenge and body text.
//!
//! ```
//! use axum::Router;
//! use axum::routing::get;
//! use tollgate_test_support::{client, server::serve};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let addr = serve(Router::new().route("/", get(|| async { "hello" }))).await;
//! let answer = client::get(&format!("http://{addr}/"), None).await;
//! assert_eq!((answer.status, answer.body.as_str()), (200, "hello"));
//! assert_eq!(answer.challenge, None);
//! # }
//! ```

/// What a server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `WWW-Authenticate` header, if any.
    pub challenge: Option<String>,
    /// The body as text.
    pub body: String,
}

impl Answer {
    /// Whether the challenge names this RFC 6750 `error` code (`invalid_token`, ...).
    pub fn challenge_error_is(&self, error: &str) -> bool {
        self.challenge
            .as_deref()
            .is_some_and(|c| c.contains(&format!("error=\"{error}\"")))
    }

    /// Whether the challenge's `error_description` is exactly `description`.
    pub fn challenge_describes(&self, description: &str) -> bool {
        self.challenge
            .as_deref()
            .is_some_and(|c| c.contains(&format!("error_description=\"{description}\"")))
    }
}

/// `GET url`, with `Authorization: Bearer <token>` when a token is given.
pub async fn get(url: &str, token: Option<&str>) -> Answer {
    send(client().get(url), token).await
}

/// `POST url` with this body, with `Authorization: Bearer <token>` when a token is given.
pub async fn post(url: &str, token: Option<&str>, body: &str) -> Answer {
    send(client().post(url).body(body.to_owned()), token).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn send(request: reqwest::RequestBuilder, token: Option<&str>) -> Answer {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status,
        challenge,
        body: response.text().await.unwrap(),
    }
}
