//! Who a client is and what it may do: `AUTH` with `requirepass` and
//! Redis-style ACL users in three roles.
//!
//! - No password and no users: every client is the `default` user, with
//!   read-write rights (a loopback development cluster).
//! - `requirepass`: the `default` user needs that password, as in Redis.
//! - Named users, each read-only, read-write or admin, with a password
//!   given in clear or as its SHA-256 (Redis ACL's `#<hash>`). Once any
//!   password or user is configured, a client must `AUTH` (or `HELLO …
//!   AUTH`) before anything but `AUTH`, `HELLO` and `QUIT`.
//!
//! Passwords are kept only as SHA-256 digests and compared in constant
//! time. An admin may act on any client's leases and locks; no one else
//! may (see `synod_core::service::Caller`).

use ring::digest::{SHA256, digest};
use serde::Deserialize;
use std::collections::BTreeMap;

/// What a user may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Reads only: GET, MGET, EXISTS, lease and lock queries, status.
    ReadOnly,
    /// Reads and writes, leases and locks of its own.
    ReadWrite,
    /// Everything, the leases and locks of every client included.
    Admin,
}

/// A user as written in the node's configuration file.
#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The name clients give to `AUTH`.
    pub name: String,
    /// The password in clear (never printed back).
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// Or its SHA-256, in hex.
    #[serde(default)]
    pub password_sha256: Option<String>,
    /// What the user may run.
    pub role: Role,
}

impl UserConfig {
    /// The same user with a clear-text password replaced by its SHA-256,
    /// as the config file also takes it: safe to print, and read back it
    /// admits the same password.
    pub fn hashed(&self) -> UserConfig {
        let mut u = self.clone();
        if let Some(p) = u.password.take() {
            u.password_sha256 = Some(sha256(p.as_bytes()).iter().map(|b| format!("{b:02x}")).collect());
        }
        u
    }
}

impl core::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UserConfig").field("name", &self.name).field("role", &self.role).finish_non_exhaustive()
    }
}

/// Who a connection authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user's name; `default` for the unnamed user.
    pub user: String,
    /// Its rights.
    pub role: Role,
}

impl Principal {
    /// True for the unnamed `default` user, whose leases belong to the
    /// connection that took them (it is shared by every client).
    pub fn is_default(&self) -> bool {
        self.user == DEFAULT
    }
}

const DEFAULT: &str = "default";

#[derive(Clone)]
struct User {
    role: Role,
    digest: [u8; 32],
}

/// The users a node knows.
#[derive(Clone, Default)]
pub struct Users {
    /// The `default` user's password digest (`requirepass`).
    default: Option<[u8; 32]>,
    named: BTreeMap<String, User>,
}

impl core::fmt::Debug for Users {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Users")
            .field("requirepass", &self.default.is_some())
            .field("named", &self.named.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn sha256(password: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, password).as_ref());
    out
}

/// Equal in time that does not depend on where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Users {
    /// Users from `requirepass` and the configured list; refuses a user
    /// without exactly one password, a bad digest, a duplicate, or a user
    /// named `default` (set its password with `requirepass`).
    pub fn new(requirepass: Option<&str>, users: &[UserConfig]) -> Result<Users, String> {
        if requirepass.is_some_and(str::is_empty) {
            return Err("requirepass must not be empty".into());
        }
        let mut named = BTreeMap::new();
        for u in users {
            if u.name.is_empty() || u.name == DEFAULT || u.name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("user name {:?} is not allowed", u.name));
            }
            let digest = match (&u.password, &u.password_sha256) {
                (Some(p), None) if !p.is_empty() => sha256(p.as_bytes()),
                (None, Some(hex)) => {
                    parse_hex(hex).ok_or_else(|| format!("user {}: password_sha256 is not 64 hex digits", u.name))?
                }
                _ => return Err(format!("user {}: give exactly one of password and password_sha256", u.name)),
            };
            if named.insert(u.name.clone(), User { role: u.role, digest }).is_some() {
                return Err(format!("user {} is configured twice", u.name));
            }
        }
        Ok(Users { default: requirepass.map(|p| sha256(p.as_bytes())), named })
    }

    /// True if clients must authenticate.
    pub fn required(&self) -> bool {
        self.default.is_some() || !self.named.is_empty()
    }

    /// Who a client is before it authenticates: the `default` user when no
    /// authentication is required, else no one.
    pub fn unauthenticated(&self) -> Option<Principal> {
        (!self.required()).then(|| Principal { user: DEFAULT.into(), role: Role::ReadWrite })
    }

    /// `AUTH [user] password`: who that is, if the password is right.
    pub fn login(&self, user: Option<&[u8]>, password: &[u8]) -> Option<Principal> {
        let given = sha256(password);
        match user.map(core::str::from_utf8) {
            None | Some(Ok(DEFAULT)) => match &self.default {
                Some(d) if same(d, &given) => Some(Principal { user: DEFAULT.into(), role: Role::ReadWrite }),
                // Redis answers AUTH without requirepass with an error; so do we.
                _ => None,
            },
            Some(Ok(name)) => {
                let u = self.named.get(name)?;
                same(&u.digest, &given).then(|| Principal { user: name.to_string(), role: u.role })
            }
            Some(Err(_)) => None,
        }
    }
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, password: &str, role: Role) -> UserConfig {
        UserConfig { name: name.into(), password: Some(password.into()), password_sha256: None, role }
    }

    #[test]
    fn without_passwords_everyone_is_the_default_read_write_user() {
        let u = Users::new(None, &[]).unwrap();
        assert!(!u.required());
        assert_eq!(u.unauthenticated(), Some(Principal { user: "default".into(), role: Role::ReadWrite }));
        assert_eq!(u.login(None, b"anything"), None);
    }

    #[test]
    fn requirepass_and_named_users_log_in_with_their_own_password_only() {
        let hashed = UserConfig {
            name: "ro".into(),
            password: None,
            // sha256("reader")
            password_sha256: Some("3d0941964aa3ebdcb00ccef58b1bb399f9f898465e9886d5aec7f31090a0fb30".into()),
            role: Role::ReadOnly,
        };
        let u = Users::new(Some("s3cret"), &[user("ops", "root-pw", Role::Admin), hashed]).unwrap();
        assert!(u.required());
        assert_eq!(u.unauthenticated(), None);
        assert_eq!(u.login(None, b"s3cret").map(|p| p.role), Some(Role::ReadWrite));
        assert_eq!(u.login(Some(b"default"), b"s3cret").map(|p| p.user), Some("default".into()));
        assert_eq!(u.login(None, b"s3creT"), None);
        assert_eq!(u.login(Some(b"ops"), b"root-pw").map(|p| p.role), Some(Role::Admin));
        assert_eq!(u.login(Some(b"ops"), b"s3cret"), None, "another user's password");
        assert_eq!(u.login(Some(b"ro"), b"reader").map(|p| p.role), Some(Role::ReadOnly));
        assert_eq!(u.login(Some(b"nobody"), b"reader"), None);
        assert_eq!(u.login(Some(&[0xff]), b"reader"), None);
    }

    #[test]
    fn bad_user_lists_are_refused() {
        assert!(Users::new(Some(""), &[]).is_err());
        assert!(Users::new(None, &[user("default", "x", Role::Admin)]).is_err());
        assert!(Users::new(None, &[user("a b", "x", Role::Admin)]).is_err());
        assert!(Users::new(None, &[user("a", "x", Role::Admin), user("a", "y", Role::ReadOnly)]).is_err());
        let both = UserConfig { password_sha256: Some("00".repeat(32)), ..user("a", "x", Role::Admin) };
        assert!(Users::new(None, &[both]).is_err());
        let bad_hex =
            UserConfig { password: None, password_sha256: Some("zz".repeat(32)), ..user("a", "", Role::Admin) };
        assert!(Users::new(None, &[bad_hex]).is_err());
    }
}
