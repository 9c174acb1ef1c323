//! The leader's view of each acceptor is the one both protocols share
//! (`replica::progress`); Multi-Paxos adds no rules of its own to it.

pub(super) use crate::replica::progress::{Progress, State};
