//! Role and scope guards: as extractors that read like the handler's signature, and as route
//! layers for whole routers. Roles and scopes are read with the verifier's
//! [`AccessClaims`](tollgate_core::AccessClaims) (default: roles at `roles`, scopes at
//! `scope`/`scp`), through [`Authenticated::roles`] and [`Authenticated::scopes`]; an
//! [`AuthLayer`](crate::AuthLayer) may override the role path
//! ([`roles_claim`](crate::AuthLayerBuilder::roles_claim)). A missing requirement is a 403
//! `insufficient_scope` naming what was missing
//! ([`Error::InsufficientScope`](tollgate_core::Error::InsufficientScope)); no verified token is
//! a 401. Both answer through the [`ErrorResponder`](crate::ErrorResponder) of the layer in
//! front ([`Answering`](crate::Answering)).
//!
//! The names are the same for roles and scopes, for extractors and route layers:
//!
//! | requires | extractor | route layer |
//! |---|---|---|
//! | one role | [`RequireRole<R>`] | [`require_role`] |
//! | any of several roles | [`RequireAnyRole<(R1, R2)>`](RequireAnyRole) | [`require_any_role`] |
//! | all of several roles | [`RequireAllRoles<(R1, R2)>`](RequireAllRoles) | [`require_all_roles`] |
//! | one scope | [`RequireScope<S>`] | [`require_scope`] |
//! | any of several scopes | [`RequireAnyScope<(S1, S2)>`](RequireAnyScope) | [`require_any_scope`] |
//! | all of several scopes | [`RequireAllScopes<(S1, S2)>`](RequireAllScopes) | [`require_all_scopes`] |
//!
//! ```
//! use axum::{Router, routing::get};
//! use tollgate::{RequireAllScopes, RequireAnyRole, RequireRole, RequireScope, require_scope};
//!
//! tollgate::role!(pub Admin = "admin");
//! tollgate::role!(pub Editor = "editor");
//! tollgate::scope!(pub ReadItems = "read:items");
//! tollgate::scope!(pub WriteItems = "write:items");
//!
//! async fn admin_only(_: RequireRole<Admin>) -> &'static str { "hello admin" }
//! async fn staff(_: RequireAnyRole<(Admin, Editor)>) -> &'static str { "hello staff" }
//! async fn write(_: RequireScope<WriteItems>) -> &'static str { "written" }
//! async fn sync(_: RequireAllScopes<(ReadItems, WriteItems)>) -> &'static str { "synced" }
//!
//! let app: Router = Router::new()
//!     .route("/admin", get(admin_only))
//!     .route("/staff", get(staff))
//!     .route("/items", get(write))
//!     .route("/sync", get(sync))
//!     .merge(Router::new().route("/reports", get(|| async { "reports" }))
//!         .route_layer(require_scope("read:reports")));
//! ```

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use http::request::Parts;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::{Authenticated, answering_in, authenticated, rejection};
use crate::response::{AuthError, AuthRejection};

/// A role name at the type level; declare one with [`role!`](crate::role).
pub trait Role: Send + Sync + 'static {
    /// The role as it appears in the token.
    const NAME: &'static str;
}

/// A scope name at the type level; declare one with [`scope!`](crate::scope).
pub trait Scope: Send + Sync + 'static {
    /// The scope as it appears in the token.
    const NAME: &'static str;
}

/// Declares a [`Role`] marker type: `tollgate::role!(pub Admin = "admin");`.
#[macro_export]
macro_rules! role {
    ($vis:vis $name:ident = $value:literal) => {
        #[doc = concat!("The `", $value, "` role.")]
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::Role for $name {
            const NAME: &'static str = $value;
        }
    };
}

/// Declares a [`Scope`] marker type: `tollgate::scope!(pub ReadItems = "read:items");`.
#[macro_export]
macro_rules! scope {
    ($vis:vis $name:ident = $value:literal) => {
        #[doc = concat!("The `", $value, "` scope.")]
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::Scope for $name {
            const NAME: &'static str = $value;
        }
    };
}

/// One or more [`Role`]s: a single role type or a tuple of up to six.
pub trait Roles: Send + Sync + 'static {
    /// The role names.
    fn names() -> Vec<&'static str>;
}

/// One or more [`Scope`]s: a single scope type or a tuple of up to six.
pub trait Scopes: Send + Sync + 'static {
    /// The scope names.
    fn names() -> Vec<&'static str>;
}

impl<R: Role> Roles for R {
    fn names() -> Vec<&'static str> {
        vec![R::NAME]
    }
}

impl<S: Scope> Scopes for S {
    fn names() -> Vec<&'static str> {
        vec![S::NAME]
    }
}

macro_rules! tuples {
    ($($t:ident),+) => {
        impl<$($t: Role),+> Roles for ($($t,)+) {
            fn names() -> Vec<&'static str> { vec![$($t::NAME),+] }
        }
        impl<$($t: Scope),+> Scopes for ($($t,)+) {
            fn names() -> Vec<&'static str> { vec![$($t::NAME),+] }
        }
    };
}
tuples!(A, B);
tuples!(A, B, C);
tuples!(A, B, C, D);
tuples!(A, B, C, D, E);
tuples!(A, B, C, D, E, F);

/// What a guard checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Roles,
    Scopes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantifier {
    Any,
    All,
}

fn check(
    auth: &Authenticated,
    kind: Kind,
    quantifier: Quantifier,
    names: &[&str],
) -> Result<(), AuthError> {
    let held = match kind {
        Kind::Roles => auth.roles(),
        Kind::Scopes => auth.scopes(),
    };
    let ok = match quantifier {
        Quantifier::Any => names.iter().any(|n| held.contains(n)),
        Quantifier::All => names.iter().all(|n| held.contains(n)),
    };
    if ok {
        Ok(())
    } else {
        let missing: Vec<&str> = match quantifier {
            Quantifier::Any => names.to_vec(),
            Quantifier::All => names
                .iter()
                .copied()
                .filter(|n| !held.contains(n))
                .collect(),
        };
        Err(AuthError::Token(tollgate_core::Error::InsufficientScope {
            required: missing.join(" "),
        }))
    }
}

fn guard_parts(
    parts: &Parts,
    kind: Kind,
    quantifier: Quantifier,
    names: &[&str],
) -> Result<Authenticated, AuthRejection> {
    let auth = authenticated(parts)?;
    check(auth, kind, quantifier, names).map_err(|e| rejection(e, parts))?;
    Ok(auth.clone())
}

macro_rules! guard_extractor {
    ($(#[$doc:meta])* $name:ident, $bound:ident, $names:ident, $kind:expr, $quantifier:expr) => {
        $(#[$doc])*
        pub struct $name<T: $bound>(pub Authenticated, PhantomData<T>);

        impl<T: $bound> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&<T as $names>::names()).finish()
            }
        }

        impl<S: Send + Sync, T: $bound> FromRequestParts<S> for $name<T> {
            type Rejection = AuthRejection;

            async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
                let auth = guard_parts(parts, $kind, $quantifier, &<T as $names>::names())?;
                Ok($name(auth, PhantomData))
            }
        }
    };
}

guard_extractor!(
    /// Requires the role `R` (one role type; for several, [`RequireAnyRole`] or
    /// [`RequireAllRoles`]); 403 otherwise. The extractor form of [`require_role`].
    RequireRole, Role, Roles, Kind::Roles, Quantifier::All
);
guard_extractor!(
    /// Requires at least one role of the tuple `R`; 403 otherwise. The extractor form of
    /// [`require_any_role`].
    RequireAnyRole, Roles, Roles, Kind::Roles, Quantifier::Any
);
guard_extractor!(
    /// Requires every role of the tuple `R`: `RequireAllRoles<(Admin, Auditor)>`; 403 naming the
    /// missing ones otherwise. The extractor form of [`require_all_roles`].
    RequireAllRoles, Roles, Roles, Kind::Roles, Quantifier::All
);
guard_extractor!(
    /// Requires the scope `S` (one scope type; for several, [`RequireAnyScope`] or
    /// [`RequireAllScopes`]); 403 otherwise. The extractor form of [`require_scope`].
    RequireScope, Scope, Scopes, Kind::Scopes, Quantifier::All
);
guard_extractor!(
    /// Requires at least one scope of the tuple `S`; 403 otherwise. The extractor form of
    /// [`require_any_scope`].
    RequireAnyScope, Scopes, Scopes, Kind::Scopes, Quantifier::Any
);
guard_extractor!(
    /// Requires every scope of the tuple `S`: `RequireAllScopes<(Read, Write)>`; 403 naming the
    /// missing ones otherwise. The extractor form of [`require_all_scopes`].
    RequireAllScopes, Scopes, Scopes, Kind::Scopes, Quantifier::All
);

/// A route layer that checks roles or scopes for every route it wraps. Place it inside the
/// [`AuthLayer`](crate::AuthLayer) (e.g. `Router::route_layer` on a router that is itself
/// layered with the `AuthLayer`).
#[derive(Clone)]
pub struct GuardLayer {
    requirement: Arc<Requirement>,
}

#[derive(Debug)]
struct Requirement {
    kind: Kind,
    quantifier: Quantifier,
    names: Vec<String>,
}

impl fmt::Debug for GuardLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GuardLayer")
            .field(&self.requirement)
            .finish()
    }
}

fn guard_layer<I: Into<String>>(
    kind: Kind,
    quantifier: Quantifier,
    names: impl IntoIterator<Item = I>,
) -> GuardLayer {
    GuardLayer {
        requirement: Arc::new(Requirement {
            kind,
            quantifier,
            names: names.into_iter().map(Into::into).collect(),
        }),
    }
}

/// Requires this role (the route-layer form of [`RequireRole`]).
pub fn require_role(role: impl Into<String>) -> GuardLayer {
    guard_layer(Kind::Roles, Quantifier::All, [role.into()])
}

/// Requires at least one of these roles (the route-layer form of [`RequireAnyRole`]).
pub fn require_any_role<I: Into<String>>(roles: impl IntoIterator<Item = I>) -> GuardLayer {
    guard_layer(Kind::Roles, Quantifier::Any, roles)
}

/// Requires all of these roles (the route-layer form of [`RequireAllRoles`]).
pub fn require_all_roles<I: Into<String>>(roles: impl IntoIterator<Item = I>) -> GuardLayer {
    guard_layer(Kind::Roles, Quantifier::All, roles)
}

/// Requires this scope (the route-layer form of [`RequireScope`]).
pub fn require_scope(scope: impl Into<String>) -> GuardLayer {
    guard_layer(Kind::Scopes, Quantifier::All, [scope.into()])
}

/// Requires at least one of these scopes (the route-layer form of [`RequireAnyScope`]).
pub fn require_any_scope<I: Into<String>>(scopes: impl IntoIterator<Item = I>) -> GuardLayer {
    guard_layer(Kind::Scopes, Quantifier::Any, scopes)
}

/// Requires all of these scopes (the route-layer form of [`RequireAllScopes`]).
pub fn require_all_scopes<I: Into<String>>(scopes: impl IntoIterator<Item = I>) -> GuardLayer {
    guard_layer(Kind::Scopes, Quantifier::All, scopes)
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            requirement: self.requirement.clone(),
        }
    }
}

/// The service of [`GuardLayer`].
#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    requirement: Arc<Requirement>,
}

impl<S: fmt::Debug> fmt::Debug for GuardService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardService")
            .field("inner", &self.inner)
            .field("requirement", &self.requirement)
            .finish()
    }
}

pin_project! {
    /// The response future of [`GuardService`], and of any layer that either refuses a request
    /// with a ready answer or passes it on (e.g. `tollgate-lambda`'s trusted-claims layer). Adds
    /// no allocation to the inner future.
    pub struct GuardFuture<F> {
        #[pin]
        state: GuardState<F>,
    }
}

pin_project! {
    #[project = GuardStateProj]
    enum GuardState<F> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response<Body>> },
    }
}

impl<F> GuardFuture<F> {
    /// Passes the request on: resolves to the inner service's response.
    pub fn inner(future: F) -> Self {
        GuardFuture {
            state: GuardState::Inner { future },
        }
    }

    /// Refuses the request: resolves to `response`.
    pub fn refused(response: Response<Body>) -> Self {
        GuardFuture {
            state: GuardState::Refused {
                response: Some(response),
            },
        }
    }
}

impl<F> fmt::Debug for GuardFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GuardFuture")
    }
}

impl<F, B, E> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            GuardStateProj::Inner { future } => future.poll(cx).map_ok(|res| res.map(Body::new)),
            GuardStateProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GuardService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let answering = answering_in(request.extensions())
            .cloned()
            .unwrap_or_default();
        let verdict = match request.extensions().get::<Authenticated>() {
            None => Err(AuthError::MissingCredentials),
            Some(auth) => {
                let names: Vec<&str> = self.requirement.names.iter().map(String::as_str).collect();
                check(
                    auth,
                    self.requirement.kind,
                    self.requirement.quantifier,
                    &names,
                )
            }
        };
        match verdict {
            Ok(()) => GuardFuture::inner(self.inner.call(request)),
            Err(error) => {
                tracing::debug!(reason = %error, "guard refused request");
                GuardFuture::refused(answering.respond_to(&error, request.headers()))
            }
        }
    }
}
