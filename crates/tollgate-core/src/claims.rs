//! Typed claims: the registered claims, a catch-all map, and role/scope helpers.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::error::ConfigError;

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
        Some(v)
            if v.is_finite() && (0.0..=crate::validation::MAX_NUMERIC_DATE as f64).contains(&v) =>
        {
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

/// A path to a claim inside the claims object, e.g. `roles`, `realm_access.roles`,
/// `resource_access.my-client.roles`, `cognito:groups`, or an Auth0 namespaced claim
/// `https://example.com/roles`.
///
/// Segments are separated by `.`, but a member whose name itself contains dots is found too: at
/// each level the longest member name matching a prefix of the remaining path wins.
///
/// ```
/// use serde_json::json;
/// use tollgate_core::ClaimPath;
///
/// let claims = json!({
///     "https://example.com/roles": ["admin"],
///     "resource_access": {"my.client": {"roles": ["reader"]}}
/// });
/// let claims = claims.as_object().unwrap();
/// assert_eq!(ClaimPath::new("https://example.com/roles").unwrap().strings(claims), ["admin"]);
/// let nested = ClaimPath::new("resource_access.my.client.roles").unwrap();
/// assert_eq!(nested.strings(claims), ["reader"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimPath {
    path: String,
}

/// Deepest nesting a claim path may have.
const MAX_PATH_SEGMENTS: usize = 16;

impl ClaimPath {
    /// Parses a dotted path; empty paths and empty segments are refused.
    pub fn new(path: &str) -> Result<Self, ConfigError> {
        let segments = path.split('.').count();
        if path.is_empty() || path.split('.').any(str::is_empty) || segments > MAX_PATH_SEGMENTS {
            return Err(ConfigError::ClaimPath(path.to_owned()));
        }
        Ok(ClaimPath {
            path: path.to_owned(),
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// Finds the value at this path.
    pub fn lookup<'v>(&self, claims: &'v Map<String, Value>) -> Option<&'v Value> {
        lookup_in(claims, &self.path)
    }

    /// The strings at this path: the string elements of an array, or the space-separated words of
    /// a string (`"admin user"`); empty when absent or of another type.
    pub fn strings<'v>(&self, claims: &'v Map<String, Value>) -> Vec<&'v str> {
        string_values(self.lookup(claims))
    }
}

/// The top-level `roles` claim.
impl Default for ClaimPath {
    fn default() -> Self {
        ClaimPath {
            path: "roles".to_owned(),
        }
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path)
    }
}

impl std::str::FromStr for ClaimPath {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClaimPath::new(s)
    }
}

fn lookup_in<'v>(object: &'v Map<String, Value>, rest: &str) -> Option<&'v Value> {
    if let Some(value) = object.get(rest) {
        return Some(value);
    }
    // Try the longest prefix that names a member first, then shorter ones.
    let mut end = rest.len();
    while let Some(dot) = rest[..end].rfind('.') {
        if let Some(Value::Object(inner)) = object.get(&rest[..dot])
            && let Some(found) = lookup_in(inner, &rest[dot + 1..])
        {
            return Some(found);
        }
        end = dot;
    }
    None
}
