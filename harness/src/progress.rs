//! What a long command says while it works (`run`, `bench`, `bench --clients`, `soak`):
//! the binary shows a live bar on a terminal and, elsewhere (CI), a line per finished item
//! where the command printed one before. The work only reports; how it is shown is the
//! caller's.

/// Receives a long command's progress.
pub trait Progress: Send + Sync {
    /// The work has `total` items (scenarios, figures, clients, seconds), named `unit`.
    fn begin(&self, total: u64, unit: &str);
    /// An item began: `name` is running now.
    fn started(&self, name: &str);
    /// An item ended: `done` of the total are finished, and `line`, when given, is what a
    /// person reads about it.
    fn advanced(&self, done: u64, name: &str, line: Option<&str>);
    /// The work is over.
    fn end(&self);
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _total: u64, _unit: &str) {}
    fn started(&self, _name: &str) {}
    fn advanced(&self, _done: u64, _name: &str, _line: Option<&str>) {}
    fn end(&self) {}
}
