//! A script the reader cannot read is reported with its file and line, and the other
//! scripts of the folder still run.

use qaqpa_mailgw::corpus::{self, block_on};

#[test]
fn an_unreadable_script_does_not_stop_the_others() {
    let dir = std::env::temp_dir().join(format!("qaqpa-smtpscript-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("test.broken"),
        "test-case {\n  writeln \"HELO x\"\n  frobnicate\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("test.good"),
        "test-case name \"greeting\" {\n  expect smtp ok\n  repeat 2 {\n    writeln \"NOOP\"\n    expect smtp ok\n  }\n  writeln \"QUIT\"\n  expect smtp ok\n}\n",
    )
    .unwrap();
    let figs = block_on(corpus::opensmtpd(&dir)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", corpus::render_scripts(&figs));
    let broken = figs.iter().find(|f| f.file == "test.broken").unwrap();
    assert!(broken.unreadable);
    assert!(
        broken.disagreements[0].contains("test.broken:3: unknown statement `frobnicate`"),
        "{:?}",
        broken.disagreements
    );
    let good = figs.iter().find(|f| f.file == "test.good").unwrap();
    assert!(!good.unreadable);
    assert_eq!((good.cases, good.checks), (1, 4));
    assert_eq!(good.agreeing, 4, "{:?}", good.disagreements);
}
