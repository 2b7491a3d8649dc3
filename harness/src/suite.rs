//! A suite: the scenario files found under some paths, all checked before anything runs,
//! then filtered and partitioned for a CI matrix.

use std::path::PathBuf;

use crate::scenario::{self, LoadError, Scenario};

/// Why a suite cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// A path could not be read.
    #[error("{0}")]
    Io(String),
    /// One or more files are bad.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<LoadError>),
    /// Nothing to run.
    #[error("no scenario files (*.toml) under {0}")]
    Empty(String),
}

/// Finds and checks every scenario under `paths`; reports every bad file, not just the first.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Scenario>, SuiteError> {
    let files = scenario::discover(paths).map_err(|e| SuiteError::Io(e.to_string()))?;
    if files.is_empty() {
        let p: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(SuiteError::Empty(p.join(", ")));
    }
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for f in files {
        match scenario::load(&f) {
            Ok(s) => ok.push(s),
            Err(e) => bad.push(e),
        }
    }
    if bad.is_empty() {
        Ok(ok)
    } else {
        Err(SuiteError::Invalid(bad))
    }
}

/// A `--partition` that is not `K/N` with 1 <= K <= N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--partition takes K/N with 1 <= K <= N, e.g. 2/3 (got '{0}')")]
pub struct BadPartition(pub String);

/// Parses `K/N` (1 <= K <= N).
pub fn parse_partition(s: &str) -> Result<(usize, usize), BadPartition> {
    let bad = || BadPartition(s.to_string());
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Keeps the scenarios whose name, file or tags contain `filter`, then those of
/// partition `k` of `n` (scenarios in file order, dealt round-robin).
pub fn select(
    all: Vec<Scenario>,
    filter: Option<&str>,
    partition: Option<(usize, usize)>,
) -> Vec<Scenario> {
    let mut v: Vec<Scenario> = all
        .into_iter()
        .filter(|s| {
            filter.is_none_or(|f| {
                s.name.contains(f)
                    || s.path.display().to_string().contains(f)
                    || s.tags.iter().any(|t| t == f)
            })
        })
        .collect();
    v.sort_by(|a, b| a.path.cmp(&b.path));
    match partition {
        Some((k, n)) => v
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k - 1)
            .map(|(_, s)| s)
            .collect(),
        None => v,
    }
}
