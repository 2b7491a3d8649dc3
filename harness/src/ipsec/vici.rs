//! A client of strongSwan's vici protocol (the Versatile IKE Configuration Interface
//! swanctl speaks): length-prefixed packets over a Unix socket, each a type, maybe a
//! name, and a message of sections, key/values and lists. Enough of it for what the lab
//! reads and asks: `list-sas`, `initiate` (with the daemon's log of the attempt),
//! `terminate`.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Packet types.
const CMD_REQUEST: u8 = 0;
const CMD_RESPONSE: u8 = 1;
const CMD_UNKNOWN: u8 = 2;
const EVENT_REGISTER: u8 = 3;
const EVENT_UNREGISTER: u8 = 4;
const EVENT_CONFIRM: u8 = 5;
const EVENT_UNKNOWN: u8 = 6;
const EVENT: u8 = 7;

/// Message elements.
const SECTION_START: u8 = 1;
const SECTION_END: u8 = 2;
const KEY_VALUE: u8 = 3;
const LIST_START: u8 = 4;
const LIST_ITEM: u8 = 5;
const LIST_END: u8 = 6;

/// The largest packet accepted from the daemon.
const MAX_PACKET: usize = 512 * 1024;

/// What went wrong talking to charon.
#[derive(Debug, thiserror::Error)]
pub enum ViciError {
    /// The socket failed.
    #[error("vici: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon sent something this client cannot read.
    #[error("vici: malformed message: {0}")]
    Malformed(&'static str),
    /// The daemon does not know the command or event.
    #[error("vici: charon does not know '{0}'")]
    Unknown(String),
    /// No answer in time.
    #[error("vici: no answer to '{0}' in time")]
    Timeout(String),
}

/// One element's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A key's value.
    Str(String),
    /// A list of values.
    List(Vec<String>),
    /// A nested section.
    Section(Message),
}

/// A message: named elements in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message(pub Vec<(String, Value)>);

impl Message {
    /// A message of key/values.
    pub fn of(pairs: &[(&str, &str)]) -> Self {
        Message(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::Str(v.to_string())))
                .collect(),
        )
    }

    /// The value of key `k`.
    pub fn str(&self, k: &str) -> Option<&str> {
        self.0.iter().find_map(|(n, v)| match v {
            Value::Str(s) if n == k => Some(s.as_str()),
            _ => None,
        })
    }

    /// The list `k` (empty when absent).
    pub fn list(&self, k: &str) -> &[String] {
        self.0
            .iter()
            .find_map(|(n, v)| match v {
                Value::List(l) if n == k => Some(l.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// The sections, with their names.
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Message)> {
        self.0.iter().filter_map(|(n, v)| match v {
            Value::Section(m) => Some((n.as_str(), m)),
            _ => None,
        })
    }

    /// Section `k`.
    pub fn section(&self, k: &str) -> Option<&Message> {
        self.sections().find(|(n, _)| *n == k).map(|(_, m)| m)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for (name, value) in &self.0 {
            match value {
                Value::Str(s) => {
                    out.push(KEY_VALUE);
                    put_name(out, name);
                    put_value(out, s);
                }
                Value::List(items) => {
                    out.push(LIST_START);
                    put_name(out, name);
                    for i in items {
                        out.push(LIST_ITEM);
                        put_value(out, i);
                    }
                    out.push(LIST_END);
                }
                Value::Section(m) => {
                    out.push(SECTION_START);
                    put_name(out, name);
                    m.encode(out);
                    out.push(SECTION_END);
                }
            }
        }
    }

    /// Parses a message; never panics on what the peer sent.
    pub fn decode(mut b: &[u8]) -> Result<Self, ViciError> {
        let mut stack: Vec<(String, Message)> = vec![(String::new(), Message::default())];
        let mut list: Option<(String, Vec<String>)> = None;
        while let Some((&kind, rest)) = b.split_first() {
            b = rest;
            let top = &mut stack.last_mut().expect("the root stays").1;
            match kind {
                SECTION_START => {
                    let name = take_name(&mut b)?;
                    stack.push((name, Message::default()));
                }
                SECTION_END => {
                    if stack.len() < 2 {
                        return Err(ViciError::Malformed("section end without start"));
                    }
                    let (name, m) = stack.pop().expect("checked");
                    stack
                        .last_mut()
                        .expect("checked")
                        .1
                        .0
                        .push((name, Value::Section(m)));
                }
                KEY_VALUE => {
                    let name = take_name(&mut b)?;
                    let v = take_value(&mut b)?;
                    top.0.push((name, Value::Str(v)));
                }
                LIST_START => list = Some((take_name(&mut b)?, Vec::new())),
                LIST_ITEM => {
                    let v = take_value(&mut b)?;
                    list.as_mut()
                        .ok_or(ViciError::Malformed("list item outside a list"))?
                        .1
                        .push(v);
                }
                LIST_END => {
                    let (name, items) = list
                        .take()
                        .ok_or(ViciError::Malformed("list end without start"))?;
                    top.0.push((name, Value::List(items)));
                }
                _ => return Err(ViciError::Malformed("unknown element")),
            }
        }
        if stack.len() != 1 || list.is_some() {
            return Err(ViciError::Malformed("unterminated section or list"));
        }
        Ok(stack.pop().expect("root").1)
    }
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    let n = &name.as_bytes()[..name.len().min(255)];
    out.push(n.len() as u8);
    out.extend_from_slice(n);
}

fn put_value(out: &mut Vec<u8>, v: &str) {
    let v = &v.as_bytes()[..v.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(v.len() as u16).to_be_bytes());
    out.extend_from_slice(v);
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], ViciError> {
    if b.len() < n {
        return Err(ViciError::Malformed("truncated"));
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

fn take_name(b: &mut &[u8]) -> Result<String, ViciError> {
    let n = take(b, 1)?[0] as usize;
    Ok(String::from_utf8_lossy(take(b, n)?).into_owned())
}

fn take_value(b: &mut &[u8]) -> Result<String, ViciError> {
    let n = u16::from_be_bytes(take(b, 2)?.try_into().expect("two bytes")) as usize;
    Ok(String::from_utf8_lossy(take(b, n)?).into_owned())
}

/// A connection to one charon.
pub struct Vici {
    stream: UnixStream,
}

impl Vici {
    /// Connects to the socket at `path`.
    pub async fn connect(path: &Path) -> Result<Self, ViciError> {
        Ok(Self {
            stream: UnixStream::connect(path).await?,
        })
    }

    async fn send(&mut self, kind: u8, name: Option<&str>, msg: &Message) -> Result<(), ViciError> {
        let mut body = vec![kind];
        if let Some(n) = name {
            put_name(&mut body, n);
        }
        msg.encode(&mut body);
        let mut packet = (body.len() as u32).to_be_bytes().to_vec();
        packet.extend(body);
        self.stream.write_all(&packet).await?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<(u8, Option<String>, Message), ViciError> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > MAX_PACKET {
            return Err(ViciError::Malformed("packet length"));
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).await?;
        let kind = body[0];
        let mut rest = &body[1..];
        let name = match kind {
            EVENT | CMD_REQUEST | EVENT_REGISTER | EVENT_UNREGISTER => Some(take_name(&mut rest)?),
            _ => None,
        };
        Ok((kind, name, Message::decode(rest)?))
    }

    async fn event_registration(&mut self, kind: u8, event: &str) -> Result<(), ViciError> {
        self.send(kind, Some(event), &Message::default()).await?;
        loop {
            match self.recv().await? {
                (EVENT_CONFIRM, _, _) => return Ok(()),
                (EVENT_UNKNOWN, _, _) => return Err(ViciError::Unknown(event.into())),
                (EVENT, _, _) => continue,
                _ => return Err(ViciError::Malformed("unexpected answer to a registration")),
            }
        }
    }

    /// Runs `command` with `args`; the events named `event` that arrive before the
    /// answer are returned with it. Gives up after `limit`.
    pub async fn call(
        &mut self,
        command: &str,
        args: &Message,
        event: Option<&str>,
        limit: Duration,
    ) -> Result<(Message, Vec<Message>), ViciError> {
        let work = async {
            if let Some(e) = event {
                self.event_registration(EVENT_REGISTER, e).await?;
            }
            self.send(CMD_REQUEST, Some(command), args).await?;
            let mut events = Vec::new();
            let answer = loop {
                match self.recv().await? {
                    (CMD_RESPONSE, _, m) => break m,
                    (CMD_UNKNOWN, _, _) => return Err(ViciError::Unknown(command.into())),
                    (EVENT, _, m) => events.push(m),
                    _ => return Err(ViciError::Malformed("unexpected packet")),
                }
            };
            if let Some(e) = event {
                self.event_registration(EVENT_UNREGISTER, e).await?;
            }
            Ok((answer, events))
        };
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| ViciError::Timeout(command.into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let m = Message(vec![
            ("child".into(), Value::Str("intranet".into())),
            (
                "sa".into(),
                Value::Section(Message(vec![
                    ("local-ts".into(), Value::List(vec!["2001:db8::/64".into()])),
                    ("state".into(), Value::Str("INSTALLED".into())),
                ])),
            ),
        ]);
        let mut b = Vec::new();
        m.encode(&mut b);
        let back = Message::decode(&b).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.str("child"), Some("intranet"));
        assert_eq!(
            back.section("sa").unwrap().list("local-ts"),
            ["2001:db8::/64"]
        );
    }

    #[test]
    fn hostile_bytes_are_errors() {
        for bad in [
            &[SECTION_END][..],
            &[KEY_VALUE, 5, b'a'],
            &[KEY_VALUE, 1, b'a', 0, 9, b'x'],
            &[LIST_ITEM, 0, 0],
            &[SECTION_START, 1, b's'],
            &[LIST_START, 1, b'l'],
            &[99],
        ] {
            assert!(Message::decode(bad).is_err(), "{bad:?}");
        }
    }
}
