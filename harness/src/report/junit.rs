//! JUnit XML through nextest's `quick-junit`: one testsuite, one testcase per scenario, the
//! failing step and its message in `<failure>`, the log as `<system-out>`, the scenario's
//! file as the testcase's `file` attribute.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::runner::ScenarioResult;

/// The JUnit XML report of `results`.
pub fn junit(results: &[ScenarioResult]) -> String {
    let time: f64 = results.iter().map(|r| r.seconds).sum();
    let mut suite = TestSuite::new("iphttps scenarios");
    suite.set_time(Duration::from_secs_f64(time));
    for r in results {
        let status = if r.passed {
            TestCaseStatus::success()
        } else {
            let step = r.failed_step.as_deref().unwrap_or_default();
            let text = format!(
                "step '{step}': {}",
                r.message.as_deref().unwrap_or_default()
            );
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("StepFailed");
            s.set_message(text.clone());
            s.set_description(text);
            s
        };
        let mut case = TestCase::new(r.name.clone(), status);
        let class = std::path::Path::new(&r.file)
            .parent()
            .map(|p| p.display().to_string().replace(['/', '\\'], "."))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "scenarios".into());
        case.set_classname(class);
        case.set_time(Duration::from_secs_f64(r.seconds));
        case.set_system_out(r.log.clone());
        case.extra.insert("file".into(), r.file.clone().into());
        suite.add_test_case(case);
    }
    let mut report = Report::new("iphttps");
    report.set_time(Duration::from_secs_f64(time));
    report.add_test_suite(suite);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- the JUnit report could not be written: {e} -->\n"))
}
