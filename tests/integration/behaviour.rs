//! The job behaviour suite shared with the systemd backend (tests/behaviour/job_suite.py),
//! here against the process backend: the real binary, real borg.

#[test]
fn the_job_behaviour_suite_passes_on_the_process_backend() {
    let out = std::process::Command::new("python3")
        .arg("tests/behaviour/job_suite.py")
        .arg("process")
        .arg(env!("CARGO_BIN_EXE_borgbox"))
        .output()
        .expect("python3 must be installed");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains(" passed, 0 failed"), "{said}");
}
