//! The connections of one node's front end, as `CLIENT LIST` shows them:
//! what each said it is called, who it logged in as, since when, and which
//! protocol it speaks. A connection's entry is updated when one of those
//! changes (never per command) and removed when the connection ends, so
//! the table holds at most the process's client limit.

use bytes::Bytes;
use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// What `CLIENT LIST` shows of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub addr: Option<SocketAddr>,
    pub name: Option<Bytes>,
    pub user: String,
    pub resp3: bool,
    since: Instant,
}

/// Every live connection of a front end.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    live: Mutex<BTreeMap<u64, Seen>>,
}

/// A connection's entry, removed when dropped.
#[derive(Debug)]
pub(crate) struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Registry {
    fn live(&self) -> MutexGuard<'_, BTreeMap<u64, Seen>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enters connection `id` from `addr`.
    pub(crate) fn join(self: &Arc<Self>, id: u64, addr: Option<SocketAddr>, user: &str) -> Registered {
        let seen = Seen { addr, name: None, user: user.to_string(), resp3: false, since: Instant::now() };
        self.live().insert(id, seen);
        Registered { registry: self.clone(), id }
    }

    /// `CLIENT LIST [ID id …]`: one line per connection, oldest first.
    pub(crate) fn list(&self, only: Option<&[u64]>) -> String {
        let live = self.live();
        let mut out = String::new();
        for (id, seen) in live.iter().filter(|(id, _)| only.is_none_or(|o| o.contains(id))) {
            out.push_str(&line(*id, seen));
        }
        out
    }
}

impl Registered {
    /// Updates this connection's entry.
    pub(crate) fn update(&self, f: impl FnOnce(&mut Seen)) {
        if let Some(seen) = self.registry.live().get_mut(&self.id) {
            f(seen);
        }
    }

    /// `CLIENT INFO`: this connection's line.
    pub(crate) fn info(&self) -> String {
        self.registry.live().get(&self.id).map_or_else(String::new, |s| line(self.id, s))
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.live().remove(&self.id);
    }
}

/// Redis's `CLIENT LIST` line, with the fields synod keeps.
fn line(id: u64, s: &Seen) -> String {
    let addr = s.addr.map_or_else(String::new, |a| a.to_string());
    let name = s.name.as_ref().map_or_else(String::new, |n| String::from_utf8_lossy(n).into_owned());
    let age = s.since.elapsed().as_secs();
    let resp = if s.resp3 { 3 } else { 2 };
    format!("id={id} addr={addr} name={name} age={age} db=0 user={} resp={resp}\n", s.user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_listed_while_they_live_with_what_they_said() {
        let r = Arc::new(Registry::default());
        let a = r.join(1, Some("127.0.0.1:5000".parse().unwrap()), "default");
        let b = r.join(2, None, "alice");
        a.update(|s| s.name = Some(Bytes::from_static(b"worker")));
        let list = r.list(None);
        assert!(list.starts_with("id=1 addr=127.0.0.1:5000 name=worker "), "{list}");
        assert!(list.contains("id=2 addr= name= ") && list.contains("user=alice"), "{list}");
        assert_eq!(r.list(Some(&[2])).lines().count(), 1);
        drop(b);
        assert_eq!(r.list(None).lines().count(), 1, "a closed connection is gone");
        assert!(a.info().starts_with("id=1 "));
    }
}
