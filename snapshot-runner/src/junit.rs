//! JUnit XML for CI: one test suite per batch, one test case per iteration.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::results::{Batch, Iteration, Status};

/// The JUnit XML of a batch.
pub fn report(batch: &Batch, iterations: &[Iteration]) -> String {
    let mut report = Report::new("snaprun");
    let mut suite = TestSuite::new(format!("snaprun {}: {}", batch.id, batch.command));
    for it in iterations {
        let output = String::from_utf8_lossy(&it.output).into_owned();
        let mut status = match it.status {
            Status::Pass => TestCaseStatus::success(),
            Status::Fail | Status::Timeout | Status::Crashed => {
                TestCaseStatus::non_success(NonSuccessKind::Failure)
            }
            Status::InfraError => TestCaseStatus::non_success(NonSuccessKind::Error),
            Status::Interrupted => TestCaseStatus::skipped(),
        };
        if it.status != Status::Pass {
            let mut message = match (it.status, it.exit_code, it.signal) {
                (Status::Fail, Some(code), _) => format!("exit status {code}"),
                (Status::Fail, None, Some(sig)) => format!("killed by signal {sig}"),
                (s, ..) => s.as_str().to_string(),
            };
            if let Some(d) = &it.detail {
                message = format!("{message}: {d}");
            }
            message.push_str(&format!(" (seed {})", it.seed));
            match &mut status {
                TestCaseStatus::NonSuccess { message: m, .. }
                | TestCaseStatus::Skipped { message: m, .. } => {
                    *m = Some(message.into());
                }
                TestCaseStatus::Success { .. } => {}
            }
        }
        let mut case = TestCase::new(format!("iteration {}", it.iteration), status);
        case.set_classname(format!("snaprun.{}", batch.id));
        case.set_time(Duration::from_millis(it.duration_ms));
        case.set_system_out(output);
        suite.add_test_case(case);
    }
    report.add_test_suite(suite);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- snaprun could not write JUnit XML: {e} -->\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixtures;

    #[test]
    fn failures_errors_and_skips_are_told_apart() {
        let batch = Batch {
            iterations: 4,
            ..fixtures::batch("b")
        };
        let it = |n: u32, status: Status, code: Option<i32>| Iteration {
            exit_code: code,
            duration_ms: 1500,
            seed: 40 + u64::from(n),
            output: b"lost updates <&>".to_vec(),
            ..fixtures::iteration("b", n, status)
        };
        let xml = report(
            &batch,
            &[
                it(1, Status::Pass, Some(0)),
                it(2, Status::Fail, Some(1)),
                it(3, Status::InfraError, None),
                it(4, Status::Interrupted, None),
            ],
        );
        assert!(
            xml.contains(r#"tests="4""#) && xml.contains(r#"failures="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"errors="1""#) && xml.contains("<skipped"),
            "{xml}"
        );
        assert!(xml.contains("exit status 1 (seed 42)"), "{xml}");
        assert!(
            xml.contains("lost updates &lt;&amp;&gt;"),
            "output is escaped: {xml}"
        );
        assert!(xml.contains(r#"time="1.500""#), "{xml}");
    }
}
