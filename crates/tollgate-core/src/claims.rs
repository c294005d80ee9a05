//! Typed claims: the registered claims, a catch-all map, and role/scope helpers.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::error::ConfigError;

/// Largest NumericDate accepted: 9999-12-31T23:59:59Z.
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// The registered claims of RFC 7519 section 4.1, as a verified token carries them.
///
/// Time claims are whole seconds since the epoch (fractional values are floored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredClaims {
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audiences (`aud` may be one string or an array).
    #[serde(default, skip_serializing_if = "Audience::is_empty")]
    pub aud: Audience,
    /// Expiry.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "numeric_date"
    )]
    pub exp: Option<i64>,
    /// Not before.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "numeric_date"
    )]
    pub nbf: Option<i64>,
    /// Issued at.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "numeric_date"
    )]
    pub iat: Option<i64>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<f64>::deserialize(deserializer)?;
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && (0.0..=MAX_NUMERIC_DATE as f64).contains(&v) => {
            Ok(Some(v.floor() as i64))
        }
        Some(_) => Err(serde::de::Error::custom("NumericDate out of range")),
    }
}

/// The `aud` claim: one string or an array of strings, kept as a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Audience(pub Vec<String>);

impl Audience {
    /// Whether no audience is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `audience` is one of the values.
    pub fn contains(&self, audience: &str) -> bool {
        self.0.iter().any(|a| a == audience)
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(aud) => Audience(vec![aud]),
            OneOrMany::Many(auds) => Audience(auds),
        })
    }
}

/// Claims for applications that do not define their own type: the registered claims plus every
/// other claim in a map.
///
/// ```
/// use tollgate_core::{ClaimPath, StandardClaims};
///
/// let claims: StandardClaims = serde_json::from_str(r#"{
///     "sub": "u1", "aud": ["api"], "scope": "read write",
///     "realm_access": {"roles": ["admin"]}, "cognito:groups": ["editors"]
/// }"#).unwrap();
/// assert_eq!(claims.registered.sub.as_deref(), Some("u1"));
/// assert_eq!(claims.scopes(), ["read", "write"]);
/// let realm = ClaimPath::new("realm_access.roles").unwrap();
/// assert_eq!(claims.strings_at(&realm), ["admin"]);
/// let groups = ClaimPath::new("cognito:groups").unwrap();
/// assert_eq!(claims.strings_at(&groups), ["editors"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StandardClaims {
    /// The registered claims.
    #[serde(flatten)]
    pub registered: RegisteredClaims,
    /// Every other claim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl StandardClaims {
    /// The value at a claim path among the non-registered claims.
    pub fn get(&self, path: &ClaimPath) -> Option<&Value> {
        path.lookup(&self.extra)
    }

    /// The strings at a claim path (see [`ClaimPath::strings`]).
    pub fn strings_at(&self, path: &ClaimPath) -> Vec<&str> {
        path.strings(&self.extra)
    }

    /// The token's scopes (see [`scopes`]).
    pub fn scopes(&self) -> Vec<&str> {
        scopes(&self.extra)
    }
}

/// The scopes of a token: `scope` (RFC 8693/9068, space-delimited string) and `scp` (a string or an
/// array of strings, as Okta and Entra ID send it), without duplicates.
pub fn scopes(claims: &Map<String, Value>) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for name in ["scope", "scp"] {
        for scope in string_values(claims.get(name)) {
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
    }
    out
}

fn string_values(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => s.split_ascii_whitespace().collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A path to a claim inside the claims object: `roles`, `realm_access.roles`,
/// `resource_access."my.client".roles`, `cognito:groups`, or a namespaced claim such as Auth0's
/// `https://example.com/roles`.
///
/// The syntax has exactly one reading:
/// - a path that starts with `http://`, `https://` or `urn:` names **one top-level member**,
///   literally: namespaced claims are URIs (OpenID Connect Core 5.1.2) and their dots are part of
///   the name, never separators;
/// - otherwise `.` separates nested member names, from the top level down;
/// - a segment written in double quotes is taken literally, dots included
///   (`resource_access."my.client".roles`: a Keycloak client id with dots); a quoted segment
///   contains no `"`.
///
/// Empty paths, empty segments, unbalanced quotes and more than 16 segments are refused. Nothing
/// is guessed: a path never matches a member whose name only looks like a prefix of it.
///
/// ```
/// use serde_json::json;
/// use tollgate_core::ClaimPath;
///
/// let claims = json!({
///     "https://example.com/roles": ["admin"],
///     "cognito:groups": ["editors"],
///     "resource_access": {"my.client": {"roles": ["reader"]}}
/// });
/// let claims = claims.as_object().unwrap();
/// assert_eq!(ClaimPath::new("https://example.com/roles").unwrap().strings(claims), ["admin"]);
/// assert_eq!(ClaimPath::new("cognito:groups").unwrap().strings(claims), ["editors"]);
/// let nested = ClaimPath::new(r#"resource_access."my.client".roles"#).unwrap();
/// assert_eq!(nested.strings(claims), ["reader"]);
/// // The same path built from its segments (no quoting to get wrong):
/// let built = ClaimPath::nested(["resource_access", "my.client", "roles"]).unwrap();
/// assert_eq!(built, nested);
/// // Unquoted, the dots separate: there is no member `my` under `resource_access`.
/// assert!(ClaimPath::new("resource_access.my.client.roles").unwrap().strings(claims).is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimPath {
    /// The canonical spelling (what [`ClaimPath::new`] parses back to the same segments).
    text: String,
    segments: Box<[String]>,
}

/// Deepest nesting a claim path may have.
const MAX_PATH_SEGMENTS: usize = 16;

/// Prefixes of a namespaced (URI) claim name, read as one literal member.
const LITERAL_PREFIXES: [&str; 3] = ["https://", "http://", "urn:"];

fn has_literal_prefix(name: &str) -> bool {
    LITERAL_PREFIXES.iter().any(|prefix| {
        name.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    })
}

impl ClaimPath {
    /// Parses a path (syntax above); the error names the path.
    pub fn new(path: &str) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::ClaimPath(path.to_owned());
        if path.is_empty() {
            return Err(invalid());
        }
        if has_literal_prefix(path) {
            return ClaimPath::member(path);
        }
        let mut segments = Vec::new();
        let mut rest = path;
        loop {
            let (segment, after) = if let Some(quoted) = rest.strip_prefix('"') {
                let close = quoted.find('"').ok_or_else(invalid)?;
                let after = &quoted[close + 1..];
                if !(after.is_empty() || after.starts_with('.')) {
                    return Err(invalid());
                }
                (&quoted[..close], after)
            } else {
                match rest.find('.') {
                    Some(dot) => (&rest[..dot], &rest[dot..]),
                    None => (rest, ""),
                }
            };
            if segment.is_empty() || (!rest.starts_with('"') && segment.contains('"')) {
                return Err(invalid());
            }
            segments.push(segment.to_owned());
            if segments.len() > MAX_PATH_SEGMENTS {
                return Err(invalid());
            }
            match after.strip_prefix('.') {
                Some(next) => rest = next,
                None => break,
            }
        }
        ClaimPath::nested(segments)
    }

    /// One top-level member, whatever its name (dots, colons and slashes included; not `"`).
    pub fn member(name: &str) -> Result<Self, ConfigError> {
        ClaimPath::nested([name])
    }

    /// A nested path from its member names, top level first; a name may contain dots (it is
    /// quoted in [`as_str`](Self::as_str)), but not `"`.
    pub fn nested<S: AsRef<str>>(
        segments: impl IntoIterator<Item = S>,
    ) -> Result<Self, ConfigError> {
        let segments: Vec<String> = segments
            .into_iter()
            .map(|s| s.as_ref().to_owned())
            .collect();
        let only = segments.len() == 1;
        let text = segments
            .iter()
            .map(|s| {
                let literal = has_literal_prefix(s);
                // A lone URI needs no quotes; anything else with a dot, or a URI-looking name
                // inside a longer path, is quoted so that it parses back the same.
                if (only && literal) || !(s.contains('.') || literal) {
                    s.clone()
                } else {
                    format!("\"{s}\"")
                }
            })
            .collect::<Vec<_>>()
            .join(".");
        if segments.is_empty()
            || segments.len() > MAX_PATH_SEGMENTS
            || segments.iter().any(|s| s.is_empty() || s.contains('"'))
        {
            return Err(ConfigError::ClaimPath(text));
        }
        Ok(ClaimPath {
            text,
            segments: segments.into_boxed_slice(),
        })
    }

    /// The path in the syntax above (parses back to the same path).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The member names, top level first.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map(String::as_str)
    }

    /// The top-level member name, when the path has a single segment.
    pub fn top_level(&self) -> Option<&str> {
        match &*self.segments {
            [only] => Some(only),
            _ => None,
        }
    }

    /// Finds the value at this path.
    pub fn lookup<'v>(&self, claims: &'v Map<String, Value>) -> Option<&'v Value> {
        let (last, parents) = self.segments.split_last()?;
        let mut object = claims;
        for name in parents {
            match object.get(name) {
                Some(Value::Object(inner)) => object = inner,
                _ => return None,
            }
        }
        object.get(last)
    }

    /// The strings at this path: the string elements of an array (other elements are ignored),
    /// or the whitespace-separated words of a string (`"admin"` is one role, `"admin user"` two,
    /// the way `scope` is written); empty when absent or of another type. Every role and scope
    /// reader in Tollgate (layer, guards, Lambda authorizer, trusted claims, `serve`) reads
    /// claims through this one function.
    pub fn strings<'v>(&self, claims: &'v Map<String, Value>) -> Vec<&'v str> {
        string_values(self.lookup(claims))
    }
}

/// The top-level `roles` claim.
impl Default for ClaimPath {
    fn default() -> Self {
        ClaimPath {
            text: "roles".to_owned(),
            segments: Box::new(["roles".to_owned()]),
        }
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for ClaimPath {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClaimPath::new(s)
    }
}

/// Where a token's roles and scopes live: the claim paths guards and
/// [`VerifiedToken::roles`](crate::VerifiedToken::roles) /
/// [`scopes`](crate::VerifiedToken::scopes) read. Part of a [`Verifier`](crate::Verifier), so a
/// provider preset brings its own (Cognito `cognito:groups`, Keycloak realm plus client roles,
/// Auth0 `permissions` as scopes) and every layer, guard and authorizer uses it unchanged.
///
/// Default: roles at `roles`; scopes at `scope` and `scp`. Values are read with
/// [`ClaimPath::strings`] (arrays, or whitespace-separated strings) and merged without
/// duplicates, in path order.
///
/// ```
/// use serde_json::json;
/// use tollgate_core::{AccessClaims, ClaimPath};
///
/// let keycloak = AccessClaims::default()
///     .roles_at([ClaimPath::new("realm_access.roles")?,
///                ClaimPath::nested(["resource_access", "my-api", "roles"])?]);
/// let claims = json!({
///     "realm_access": {"roles": ["user"]},
///     "resource_access": {"my-api": {"roles": ["admin", "user"]}},
///     "scope": "openid profile"
/// });
/// let claims = claims.as_object().unwrap();
/// assert_eq!(keycloak.roles(claims), ["user", "admin"]);
/// assert_eq!(keycloak.scopes(claims), ["openid", "profile"]);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    roles: Vec<ClaimPath>,
    scopes: Vec<ClaimPath>,
}

impl Default for AccessClaims {
    fn default() -> Self {
        AccessClaims {
            roles: vec![ClaimPath::default()],
            scopes: ["scope", "scp"]
                .into_iter()
                .map(|name| ClaimPath {
                    text: name.to_owned(),
                    segments: Box::new([name.to_owned()]),
                })
                .collect(),
        }
    }
}

impl AccessClaims {
    /// Roles are read at these paths (replacing the default `roles`).
    pub fn roles_at(mut self, paths: impl IntoIterator<Item = ClaimPath>) -> Self {
        self.roles = paths.into_iter().collect();
        self
    }

    /// Scopes are read at these paths (replacing the default `scope`, `scp`).
    pub fn scopes_at(mut self, paths: impl IntoIterator<Item = ClaimPath>) -> Self {
        self.scopes = paths.into_iter().collect();
        self
    }

    /// Also reads scopes at `path` (e.g. Auth0's `permissions`).
    pub fn also_scopes_at(mut self, path: ClaimPath) -> Self {
        if !self.scopes.contains(&path) {
            self.scopes.push(path);
        }
        self
    }

    /// The role paths.
    pub fn role_paths(&self) -> &[ClaimPath] {
        &self.roles
    }

    /// The scope paths.
    pub fn scope_paths(&self) -> &[ClaimPath] {
        &self.scopes
    }

    /// The roles of `claims`, without duplicates.
    pub fn roles<'v>(&self, claims: &'v Map<String, Value>) -> Vec<&'v str> {
        merged(&self.roles, claims)
    }

    /// The scopes of `claims`, without duplicates.
    pub fn scopes<'v>(&self, claims: &'v Map<String, Value>) -> Vec<&'v str> {
        merged(&self.scopes, claims)
    }
}

fn merged<'v>(paths: &[ClaimPath], claims: &'v Map<String, Value>) -> Vec<&'v str> {
    let mut out: Vec<&str> = Vec::new();
    for path in paths {
        for value in path.strings(claims) {
            if !out.contains(&value) {
                out.push(value);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn segments(path: &str) -> Vec<String> {
        ClaimPath::new(path)
            .unwrap()
            .segments()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn one_reading_per_path() {
        assert_eq!(segments("roles"), ["roles"]);
        assert_eq!(segments("realm_access.roles"), ["realm_access", "roles"]);
        assert_eq!(segments("cognito:groups"), ["cognito:groups"]);
        assert_eq!(
            segments("https://example.com/roles"),
            ["https://example.com/roles"]
        );
        assert_eq!(
            segments("HTTPS://Example.com/a.b"),
            ["HTTPS://Example.com/a.b"]
        );
        assert_eq!(
            segments("urn:zitadel:iam:org:project:roles"),
            ["urn:zitadel:iam:org:project:roles"]
        );
        assert_eq!(
            segments(r#"resource_access."my.client".roles"#),
            ["resource_access", "my.client", "roles"]
        );
        assert_eq!(segments(r#""a.b""#), ["a.b"]);
        for bad in [
            "", ".", "a.", ".a", "a..b", r#""a"#, r#""a"b"#, r#"a"b"#, r#""""#,
        ] {
            assert!(ClaimPath::new(bad).is_err(), "{bad:?} must be refused");
        }
        let deep = vec!["x"; 17].join(".");
        assert!(ClaimPath::new(&deep).is_err());
    }

    #[test]
    fn canonical_text_round_trips() {
        for text in [
            "roles",
            "a.b",
            r#"resource_access."my.client".roles"#,
            "https://example.com/roles",
        ] {
            let path = ClaimPath::new(text).unwrap();
            assert_eq!(ClaimPath::new(path.as_str()).unwrap(), path);
        }
        for segments in [
            vec!["https://x", "y"],
            vec!["a.b"],
            vec!["https://x.io/r"],
            vec!["urn:a", "b.c"],
        ] {
            let built = ClaimPath::nested(&segments).unwrap();
            let reparsed = ClaimPath::new(built.as_str()).unwrap();
            assert_eq!(reparsed, built, "{segments:?} -> {}", built.as_str());
        }
        let built = ClaimPath::nested(["resource_access", "a.b", "roles"]).unwrap();
        assert_eq!(built.as_str(), r#"resource_access."a.b".roles"#);
        assert!(ClaimPath::nested(Vec::<String>::new()).is_err());
        assert!(ClaimPath::nested(["a", ""]).is_err());
        assert!(ClaimPath::nested([r#"a"b"#]).is_err());
    }

    #[test]
    fn no_prefix_guessing() {
        let claims = json!({"a.b": {"c": ["dotted"]}, "a": {"b": {"c": ["nested"]}}});
        let claims = claims.as_object().unwrap();
        assert_eq!(ClaimPath::new("a.b.c").unwrap().strings(claims), ["nested"]);
        assert_eq!(
            ClaimPath::new(r#""a.b".c"#).unwrap().strings(claims),
            ["dotted"]
        );
        let only_dotted = json!({"https://x.io/roles": ["r"], "https://x": {"io/roles": ["no"]}});
        let only_dotted = only_dotted.as_object().unwrap();
        assert_eq!(
            ClaimPath::new("https://x.io/roles")
                .unwrap()
                .strings(only_dotted),
            ["r"]
        );
    }

    #[test]
    fn strings_from_arrays_and_strings_alike() {
        let claims = json!({
            "array": ["admin", "user", 7, null],
            "one": "admin",
            "words": "admin  user",
            "number": 3,
            "object": {"admin": true}
        });
        let claims = claims.as_object().unwrap();
        let at = |p: &str| ClaimPath::new(p).unwrap().strings(claims);
        assert_eq!(at("array"), ["admin", "user"]);
        assert_eq!(at("one"), ["admin"]);
        assert_eq!(at("words"), ["admin", "user"]);
        assert!(at("number").is_empty());
        assert!(at("object").is_empty());
        assert!(at("missing").is_empty());
    }

    #[test]
    fn access_claims_merge_without_duplicates() {
        let access = AccessClaims::default()
            .roles_at([
                ClaimPath::new("realm_access.roles").unwrap(),
                ClaimPath::new("groups").unwrap(),
            ])
            .also_scopes_at(ClaimPath::new("permissions").unwrap());
        let claims = json!({
            "realm_access": {"roles": ["a", "b"]},
            "groups": ["b", "c"],
            "scope": "read",
            "scp": ["read", "write"],
            "permissions": ["delete:items"]
        });
        let claims = claims.as_object().unwrap();
        assert_eq!(access.roles(claims), ["a", "b", "c"]);
        assert_eq!(access.scopes(claims), ["read", "write", "delete:items"]);
    }
}
