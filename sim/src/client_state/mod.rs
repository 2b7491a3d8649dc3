//! The client's side of [MS-IPHTTPS] 3.1 without I/O: its states, what it shows a person
//! (Last Error Code, Interface Status), the failures that map to them, and the choice
//! between 6to4, Teredo and IP-HTTPS that decides whether it runs at all.

mod error;
mod machine;
mod status;
pub mod transition;

pub use error::ConnectError;
pub use machine::{Attempt, ClientMachine};
pub use status::{
    ClientState, ClientStatus, FailureAt, IcmpErrorSeen, NetshView, SERIES_KEPT, STATUS_ACTIVE,
    STATUS_CONNECTING, STATUS_DISABLED, STATUS_FAILED, STATUS_INVALID_URL,
};
