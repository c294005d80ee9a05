//! [`VerifiedToken`]: one verified token, shared by every request that presents it.
//!
//! A token that passed every check is kept as its decoded payload, not as parsed claims: most
//! requests only need the claims as the application's own type, so each type is deserialized from
//! the payload once per token and shared afterwards. The generic JSON view (for role and scope
//! guards and claim checks) is parsed once, during verification: a payload it cannot represent
//! is refused rather than shown as empty claims.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::claims::AccessClaims;
use crate::error::Error;
use crate::json_de;
use crate::jws::TokenHeader;
use crate::key::VerificationKey;
use crate::registered::TimeClaims;

/// Most distinct claim types kept per token; an application has a handful at most, and the bound
/// keeps a misbehaving caller from growing an entry without limit.
const MAX_TYPED_VIEWS: usize = 8;

type TypedView = (TypeId, Arc<dyn Any + Send + Sync>);

/// The claims of one token as Rust types, each deserialized at most once.
#[derive(Default)]
struct TypedViews {
    /// The first type asked for (almost always the only one): read without a lock.
    first: OnceLock<TypedView>,
    more: Mutex<Vec<TypedView>>,
}

impl TypedViews {
    fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let wanted = TypeId::of::<T>();
        if let Some((type_id, view)) = self.first.get() {
            if *type_id == wanted {
                return view.clone().downcast::<T>().ok();
            }
        } else {
            return None;
        }
        let more = self.more.lock().unwrap_or_else(|p| p.into_inner());
        let (_, view) = more.iter().find(|(type_id, _)| *type_id == wanted)?;
        view.clone().downcast::<T>().ok()
    }

    fn insert<T: Send + Sync + 'static>(&self, value: Arc<T>) {
        let view: TypedView = (TypeId::of::<T>(), value);
        if let Err(view) = self.first.set(view) {
            let mut more = self.more.lock().unwrap_or_else(|p| p.into_inner());
            if more.len() < MAX_TYPED_VIEWS && !more.iter().any(|(t, _)| *t == view.0) {
                more.push(view);
            }
        }
    }
}

/// What the cache (and every holder of a [`VerifiedToken`]) keeps of a verified token.
pub(crate) struct Entry {
    /// The token string, for the constant-time comparison on lookup; empty when not cached.
    pub(crate) token: Box<[u8]>,
    pub(crate) header: Arc<TokenHeader>,
    /// The decoded payload (a JSON object with unique member names: the verifier checked it).
    pub(crate) payload: Box<[u8]>,
    pub(crate) times: TimeClaims,
    /// `cnf.jkt`, read by the verification scan (see [`VerifiedToken::confirmation_jkt`]).
    pub(crate) jkt: Option<Box<str>>,
    /// Unix second from which the cache must not hand the entry out.
    pub(crate) valid_until: i64,
    /// The key that verified the token: the entry is used only while the key source holds it.
    pub(crate) key: Weak<VerificationKey>,
    /// Where the verifier reads roles and scopes (shared by all its entries).
    pub(crate) access: Arc<AccessClaims>,
    /// Which verifier of a cache shared by several (a [`MultiIssuer`](crate::MultiIssuer)'s
    /// routes) verified the token; 0 in a verifier's own cache. A hit is judged by that
    /// verifier's policy and key source, never another's.
    pub(crate) origin: usize,
    /// The claims as JSON, parsed once, on first use (or during verification when the policy's
    /// rules needed it): see [`Entry::json`].
    json: OnceLock<Map<String, Value>>,
    typed: TypedViews,
}

/// What a full verification established about a token, before it becomes an [`Entry`].
pub(crate) struct Verdict {
    pub(crate) header: Arc<TokenHeader>,
    pub(crate) payload: Vec<u8>,
    pub(crate) times: TimeClaims,
    /// `cnf.jkt`, when the token is bound to a DPoP key.
    pub(crate) jkt: Option<Box<str>>,
    /// The claims as JSON, when verification needed them (the policy's rules and checks).
    pub(crate) json: Option<Map<String, Value>>,
    pub(crate) access: Arc<AccessClaims>,
}

impl Entry {
    pub(crate) fn new(
        token: Box<[u8]>,
        verdict: Verdict,
        valid_until: i64,
        key: Weak<VerificationKey>,
        origin: usize,
    ) -> Entry {
        Entry {
            token,
            header: verdict.header,
            payload: verdict.payload.into_boxed_slice(),
            times: verdict.times,
            jkt: verdict.jkt,
            valid_until,
            key,
            access: verdict.access,
            origin,
            json: verdict.json.map(OnceLock::from).unwrap_or_default(),
            typed: TypedViews::default(),
        }
    }

    /// The claims as JSON, parsed from the payload the first time anyone asks.
    ///
    /// Cannot fail: the verifier accepted the payload only after reading every member of it as
    /// strictly as this parse does ([`json::Reader::validate`]), which the reader's differential
    /// tests and the fuzz target `claims_payload` hold to `serde_json`. Were they ever to
    /// disagree, an empty map would show no claims, so roles, scopes and checks find nothing and
    /// refuse.
    ///
    /// [`json::Reader::validate`]: crate::json::Reader::validate
    pub(crate) fn json(&self) -> &Map<String, Value> {
        self.json.get_or_init(|| {
            serde_json::from_slice(&self.payload).unwrap_or_else(|err| {
                debug_assert!(false, "the verification scan accepted a payload the JSON view cannot hold: {err}");
                tracing::error!(error = %err, "a verified payload could not be read as JSON; its claims are shown empty");
                Map::new()
            })
        })
    }
}

/// A token that passed every check of a [`Verifier`](crate::Verifier): its header, its claims as
/// JSON or as any `Deserialize` type, and its expiry.
///
/// Cheap to clone (one `Arc`). With the verified-token cache on, every verification of the same
/// token string returns the same shared value, so claims deserialized once (per type) are reused
/// by later requests: a cache hit parses nothing.
///
/// ```
/// use serde::Deserialize;
/// use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, Verifier, VerificationKey};
///
/// #[derive(Deserialize)]
/// struct User { sub: String }
///
/// let key = VerificationKey::hmac(b"0123456789abcdef0123456789abcdef").unwrap();
/// let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build().unwrap();
/// let verifier = Verifier::new(policy, KeySet::from(key), CryptoProvider::default());
/// let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLmNvbSIsImF1ZCI6Im15LWFwaSIsInN1YiI6InVzZXItMSIsImV4cCI6NDEwMjQ0NDgwMH0.1YFUOF9s-hTXa0XGtoQTwyKGVH3FIdXNiQiiFrX4Upw";
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let verified = verifier.verify(token).await.unwrap();
/// assert_eq!(verified.claims::<User>().unwrap().sub, "user-1");
/// assert_eq!(verified.claims_json()["aud"], "my-api");
/// assert_eq!(verified.expires_at(), Some(4102444800));
/// # });
/// ```
#[derive(Clone)]
pub struct VerifiedToken {
    entry: Arc<Entry>,
}

impl VerifiedToken {
    pub(crate) fn from_entry(entry: Arc<Entry>) -> Self {
        VerifiedToken { entry }
    }

    /// The protected header.
    pub fn header(&self) -> &TokenHeader {
        &self.entry.header
    }

    /// The protected header, shared.
    pub fn shared_header(&self) -> Arc<TokenHeader> {
        self.entry.header.clone()
    }

    /// `exp` in seconds since the epoch, when present.
    pub fn expires_at(&self) -> Option<i64> {
        self.entry.times.exp
    }

    /// The token's `cnf.jkt` (RFC 9449 6.1): the base64url SHA-256 thumbprint of the key its
    /// DPoP proofs must be signed with; `None` for a token not bound to a DPoP key. Read during
    /// verification (a `cnf` that is not an object, or a `jkt` that is not a string, refused the
    /// token), so asking costs nothing, cache hits included.
    ///
    /// A bound token must not be accepted as a plain bearer token:
    /// [`dpop::check_bearer`](crate::dpop::check_bearer).
    pub fn confirmation_jkt(&self) -> Option<&str> {
        self.entry.jkt.as_deref()
    }

    /// The decoded payload: a JSON object with unique member names.
    pub fn payload(&self) -> &[u8] {
        &self.entry.payload
    }

    /// The claims as `T`, deserialized from the payload on first use and shared afterwards by
    /// every holder of this token (up to 8 distinct types per token are kept; more are
    /// deserialized on each call).
    pub fn claims<T>(&self) -> Result<Arc<T>, Error>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        if let Some(claims) = self.entry.typed.get::<T>() {
            return Ok(claims);
        }
        let claims = Arc::new(
            json_de::from_slice::<T>(&self.entry.payload)
                .map_err(|e| Error::ClaimsShape(e.to_string()))?,
        );
        self.entry.typed.insert(claims.clone());
        Ok(claims)
    }

    /// The claims as a JSON object, parsed on first use and shared afterwards (a payload this
    /// view cannot hold was refused during verification, so it agrees with
    /// [`claims`](Self::claims) and with the registered claims the verifier checked).
    pub fn claims_json(&self) -> &Map<String, Value> {
        self.entry.json()
    }

    /// The roles, read where the verifier's [`AccessClaims`] say (default `roles`).
    pub fn roles(&self) -> Vec<&str> {
        self.entry.access.roles(self.claims_json())
    }

    /// The scopes, read where the verifier's [`AccessClaims`] say (default `scope` and `scp`).
    pub fn scopes(&self) -> Vec<&str> {
        self.entry.access.scopes(self.claims_json())
    }

    /// Where this token's roles and scopes are read.
    pub fn access_claims(&self) -> &AccessClaims {
        &self.entry.access
    }

    /// `sub`, if it is a string.
    pub fn subject(&self) -> Option<&str> {
        self.claims_json().get("sub").and_then(Value::as_str)
    }

    /// `iss`, if it is a string.
    pub fn issuer(&self) -> Option<&str> {
        self.claims_json().get("iss").and_then(Value::as_str)
    }

    /// Whether both values are the same shared verification (the same cache entry).
    pub fn ptr_eq(&self, other: &VerifiedToken) -> bool {
        Arc::ptr_eq(&self.entry, &other.entry)
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("header", &self.entry.header)
            .field("expires_at", &self.entry.times.exp)
            .finish_non_exhaustive()
    }
}
