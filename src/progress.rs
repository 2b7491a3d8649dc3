//! How long commands show their progress: a live bar (indicatif) on a terminal, with what
//! is running and the time left; elsewhere (CI, a pipe) a line per finished item where the
//! command prints one, or nothing.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use iphttps_harness::progress::Progress;

/// A bar on standard error while it is a terminal, else plain lines (or nothing).
pub enum Shown {
    /// A live bar; `running` are the items under way, shown beside it.
    Bar {
        /// The bar.
        bar: ProgressBar,
        /// Items started and not finished.
        running: Mutex<Vec<String>>,
    },
    /// A line on standard output per finished item that has one (`run`'s lines).
    Lines,
    /// Nothing (the command prints its report at the end).
    Quiet,
}

impl Shown {
    /// A bar when standard output and standard error are a terminal (the lines then go
    /// above the bar), else lines per finished item on standard output.
    pub fn lines() -> Self {
        if !std::io::stdout().is_terminal() {
            return Shown::Lines;
        }
        Self::bar().unwrap_or(Shown::Lines)
    }

    /// A bar when standard error is a terminal, else nothing.
    pub fn quiet() -> Self {
        Self::bar().unwrap_or(Shown::Quiet)
    }

    fn bar() -> Option<Self> {
        if !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some() {
            return None;
        }
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {prefix} · {eta} left · {wide_msg}",
        )
        .ok()?;
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Some(Shown::Bar {
            bar,
            running: Mutex::new(Vec::new()),
        })
    }

    /// Shows `message` beside the bar (a live figure), until the next item starts or ends.
    pub fn note(&self, message: &str) {
        if let Shown::Bar { bar, .. } = self {
            bar.set_message(message.to_string());
        }
    }

    fn show_running(bar: &ProgressBar, running: &Mutex<Vec<String>>) {
        let r = running.lock().unwrap_or_else(|e| e.into_inner());
        bar.set_message(r.join(", "));
    }
}

impl Progress for Shown {
    fn begin(&self, total: u64, unit: &str) {
        if let Shown::Bar { bar, .. } = self {
            bar.set_length(total);
            bar.set_position(0);
            bar.set_prefix(unit.to_string());
        }
    }

    fn started(&self, name: &str) {
        if let Shown::Bar { bar, running } = self {
            running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(name.to_string());
            Self::show_running(bar, running);
        }
    }

    fn advanced(&self, done: u64, name: &str, line: Option<&str>) {
        match self {
            Shown::Bar { bar, running } => {
                running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|r| r != name);
                bar.set_position(done);
                Self::show_running(bar, running);
                if let Some(l) = line {
                    bar.println(l);
                }
            }
            Shown::Lines => {
                if let Some(l) = line {
                    println!("{l}");
                }
            }
            Shown::Quiet => {}
        }
    }

    fn end(&self) {
        if let Shown::Bar { bar, .. } = self {
            bar.finish_and_clear();
        }
    }
}
