//! Why a DPoP proof (or the token it comes with) was refused.

use crate::error::KeyError;

/// A DPoP proof, or the way its access token was presented, was refused (RFC 9449 4.3, 7).
///
/// `Display` is detailed, for logs; [`client_message`](Self::client_message) is what a client
/// may see, and [`code`](Self::code) the `error` of the `WWW-Authenticate: DPoP` challenge.
///
/// ```
/// use tollgate_core::dpop::DpopError;
///
/// let err = DpopError::Replayed;
/// assert_eq!(err.code(), "invalid_dpop_proof");
/// assert_eq!(DpopError::NonceRequired.code(), "use_dpop_nonce");
/// assert!(DpopError::ReplayStoreUnavailable("down".into()).is_transient());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// The request uses the `DPoP` scheme but has no `DPoP` header.
    #[error("the request has no DPoP proof header")]
    MissingProof,
    /// More than one `DPoP` header, or several proofs folded into one (RFC 9449 4.3 check 1).
    #[error("the request carries more than one DPoP proof")]
    MultipleProofs,
    /// The proof is not a well-formed compact JWS with the members RFC 9449 4.2 defines.
    #[error("malformed DPoP proof: {0}")]
    Malformed(String),
    /// The proof's `typ` is not `dpop+jwt`.
    #[error("the proof's typ is not dpop+jwt")]
    WrongType,
    /// The proof's `alg` is symmetric, `none`, unknown, or not in the allow-list.
    #[error("proof algorithm {0:?} is not allowed")]
    AlgorithmNotAllowed(String),
    /// The proof's `jwk` holds private key material.
    #[error("the proof's jwk contains private key material")]
    PrivateKeyInProof,
    /// The proof's `jwk` is not a usable public key for its `alg`.
    #[error("the proof's jwk is not usable: {0}")]
    InvalidKey(KeyError),
    /// The proof's signature does not verify with its `jwk`.
    #[error("the proof signature is invalid")]
    InvalidSignature,
    /// A required proof claim is absent.
    #[error("the proof lacks the `{0}` claim")]
    MissingClaim(&'static str),
    /// `htm` is not the request's method.
    #[error("proof htm {found:?} does not match the request method {expected:?}")]
    MethodMismatch {
        /// The request's method.
        expected: String,
        /// The proof's `htm`.
        found: String,
    },
    /// `htu` is not the request's URI (after normalisation).
    #[error("proof htu {found:?} does not match the request URI {expected:?}")]
    UriMismatch {
        /// The request's URI as the public URL and path make it.
        expected: String,
        /// The proof's `htu` (normalised when it could be).
        found: String,
    },
    /// `iat` is older than the accepted age.
    #[error("the proof is too old (iat {iat}, now {now})")]
    Stale {
        /// The proof's `iat`.
        iat: i64,
        /// The time of the check.
        now: i64,
    },
    /// `iat` is further in the future than allowed.
    #[error("the proof is issued in the future (iat {iat}, now {now})")]
    FromTheFuture {
        /// The proof's `iat`.
        iat: i64,
        /// The time of the check.
        now: i64,
    },
    /// This key already presented a proof with this `jti`.
    #[error("the proof was already used (jti replayed)")]
    Replayed,
    /// `ath` is not the hash of the access token presented with it.
    #[error("the proof's ath does not match the access token")]
    AccessTokenHashMismatch,
    /// The access token's `cnf.jkt` is not the thumbprint of the proof's key.
    #[error("the access token is bound to another key than the proof's")]
    KeyMismatch,
    /// The token was presented with the `DPoP` scheme but is not bound to a key (no `cnf.jkt`).
    #[error("the access token is not DPoP-bound (no cnf.jkt) but was presented as DPoP")]
    UnboundToken,
    /// A DPoP-bound token (with `cnf.jkt`) was presented as a plain bearer token (RFC 9449 7.2).
    #[error("a DPoP-bound access token was presented as a bearer token")]
    BoundTokenAsBearer,
    /// Server nonces are on and the proof has no `nonce`.
    #[error("the proof has no server nonce")]
    NonceRequired,
    /// The proof's `nonce` is not one this server issued recently.
    #[error("the proof's nonce is unknown or expired")]
    NonceInvalid,
    /// The replay store could not answer (transient: answer 503, the client may retry).
    #[error("the DPoP replay store is unavailable: {0}")]
    ReplayStoreUnavailable(String),
}

impl DpopError {
    /// The `error` code of the challenge: `invalid_dpop_proof` for problems with the proof
    /// (including `ath` and key binding: the proof does not fit the token), `invalid_token` for
    /// [`UnboundToken`](Self::UnboundToken) and [`BoundTokenAsBearer`](Self::BoundTokenAsBearer)
    /// (the token does not fit the scheme), `use_dpop_nonce` for the nonce errors,
    /// `invalid_request` for [`MultipleProofs`](Self::MultipleProofs), and
    /// `temporarily_unavailable` for [`ReplayStoreUnavailable`](Self::ReplayStoreUnavailable).
    pub fn code(&self) -> &'static str {
        match self {
            DpopError::MultipleProofs => "invalid_request",
            DpopError::UnboundToken | DpopError::BoundTokenAsBearer => "invalid_token",
            DpopError::NonceRequired | DpopError::NonceInvalid => "use_dpop_nonce",
            DpopError::ReplayStoreUnavailable(_) => "temporarily_unavailable",
            _ => "invalid_dpop_proof",
        }
    }

    /// A stable, snake_case name of the failure, `dpop_`-prefixed: the `reason` label of
    /// `tollgate_dpop_proofs_total` ([`telemetry`](crate::telemetry)) and of the layer's span.
    ///
    /// ```
    /// assert_eq!(tollgate_core::dpop::DpopError::Replayed.reason(), "dpop_replayed");
    /// ```
    pub fn reason(&self) -> &'static str {
        match self {
            DpopError::MissingProof => "dpop_missing_proof",
            DpopError::MultipleProofs => "dpop_multiple_proofs",
            DpopError::Malformed(_) => "dpop_malformed",
            DpopError::WrongType => "dpop_wrong_type",
            DpopError::AlgorithmNotAllowed(_) => "dpop_algorithm_not_allowed",
            DpopError::PrivateKeyInProof => "dpop_private_key",
            DpopError::InvalidKey(_) => "dpop_invalid_key",
            DpopError::InvalidSignature => "dpop_invalid_signature",
            DpopError::MissingClaim(_) => "dpop_missing_claim",
            DpopError::MethodMismatch { .. } => "dpop_method_mismatch",
            DpopError::UriMismatch { .. } => "dpop_uri_mismatch",
            DpopError::Stale { .. } => "dpop_stale",
            DpopError::FromTheFuture { .. } => "dpop_from_the_future",
            DpopError::Replayed => "dpop_replayed",
            DpopError::AccessTokenHashMismatch => "dpop_ath_mismatch",
            DpopError::KeyMismatch => "dpop_key_mismatch",
            DpopError::UnboundToken => "dpop_unbound_token",
            DpopError::BoundTokenAsBearer => "dpop_bound_token_as_bearer",
            DpopError::NonceRequired => "dpop_nonce_required",
            DpopError::NonceInvalid => "dpop_nonce_invalid",
            DpopError::ReplayStoreUnavailable(_) => "dpop_replay_store_unavailable",
        }
    }

    /// The HTTP status to answer with: 400 for [`MultipleProofs`](Self::MultipleProofs), 503
    /// when [`is_transient`](Self::is_transient), else 401.
    pub fn http_status(&self) -> u16 {
        match self {
            DpopError::MultipleProofs => 400,
            DpopError::ReplayStoreUnavailable(_) => 503,
            _ => 401,
        }
    }

    /// Whether the failure is on the server side (the replay store), not the request's: answer
    /// 503.
    pub fn is_transient(&self) -> bool {
        matches!(self, DpopError::ReplayStoreUnavailable(_))
    }

    /// A description safe to send as `error_description`: says which check failed, never
    /// echoes the proof, the expected URI or server state.
    pub fn client_message(&self) -> &'static str {
        match self {
            DpopError::MissingProof => "the DPoP proof is missing",
            DpopError::MultipleProofs => "exactly one DPoP proof is allowed",
            DpopError::Malformed(_) => "the DPoP proof is malformed",
            DpopError::WrongType => "the DPoP proof type must be dpop+jwt",
            DpopError::AlgorithmNotAllowed(_) => "the DPoP proof algorithm is not accepted",
            DpopError::PrivateKeyInProof => "the DPoP proof key contains private key material",
            DpopError::InvalidKey(_) => "the DPoP proof key is not usable",
            DpopError::InvalidSignature => "the DPoP proof signature is invalid",
            DpopError::MissingClaim(_) => "the DPoP proof lacks a required claim",
            DpopError::MethodMismatch { .. } => "the DPoP proof is for another HTTP method",
            DpopError::UriMismatch { .. } => "the DPoP proof is for another URI",
            DpopError::Stale { .. } => "the DPoP proof is too old",
            DpopError::FromTheFuture { .. } => "the DPoP proof is issued in the future",
            DpopError::Replayed => "the DPoP proof was already used",
            DpopError::AccessTokenHashMismatch => "the DPoP proof is for another access token",
            DpopError::KeyMismatch => "the access token is bound to another key",
            DpopError::UnboundToken => "the access token is not bound to a DPoP key",
            DpopError::BoundTokenAsBearer => "the access token is DPoP-bound; use the DPoP scheme",
            DpopError::NonceRequired => "a DPoP nonce is required",
            DpopError::NonceInvalid => "the DPoP nonce is invalid or expired",
            DpopError::ReplayStoreUnavailable(_) => {
                "DPoP proofs cannot be checked right now; retry"
            }
        }
    }
}
