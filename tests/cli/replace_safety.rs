//! Issue #14 class 1: `compile -o DIR` replaces only a directory that is provably an rtl4ml
//! build; anything else a user owns is never deleted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_rtl4ml");

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("replace_safety")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn compile(out: &Path) -> Output {
    Command::new(BIN)
        .args(["compile", "models/odd_types.json", "-q", "-o"])
        .arg(out)
        .output()
        .unwrap()
}

fn refused(o: &Output, why: &str) {
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains(why), "{e}");
    assert!(e.contains("refusing to replace it"), "{e}");
}

#[test]
fn only_a_provable_build_is_replaced() {
    let w = scratch("provable");
    // A fresh build, then a rebuild over it: fine.
    let out = w.join("build");
    assert!(compile(&out).status.success());
    assert!(compile(&out).status.success());
    // An empty directory is used.
    let empty = w.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(compile(&empty).status.success());
    assert!(empty.join("rtl4ml.json").is_file());

    // A directory that merely holds a file named rtl4ml.json, next to the user's work.
    let mine = w.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("rtl4ml.json"), "{\"notes\": 1}").unwrap();
    std::fs::write(mine.join("thesis.tex"), "precious").unwrap();
    refused(&compile(&mine), "is not an rtl4ml manifest");
    assert_eq!(
        std::fs::read_to_string(mine.join("thesis.tex")).unwrap(),
        "precious"
    );

    // A real build that the user added a file to.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    refused(
        &compile(&out),
        "holds `notes.txt`, which rtl4ml did not write",
    );
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    std::fs::remove_file(out.join("notes.txt")).unwrap();

    // A link where rtl4ml would put a directory of its own.
    let elsewhere = w.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("keep"), "k").unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("verify")).unwrap();
    refused(&compile(&out), "holds `verify`");
    assert!(elsewhere.join("keep").is_file());
    std::fs::remove_file(out.join("verify")).unwrap();

    // The output itself a link to a build, or a plain file.
    let link = w.join("link");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    refused(&compile(&link), "is a symbolic link");
    assert!(out.join("rtl4ml.json").is_file());
    let file = w.join("file.v");
    std::fs::write(&file, "module m; endmodule").unwrap();
    refused(&compile(&file), "is not a directory");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "module m; endmodule"
    );

    // And nothing was left behind next to them.
    let leftovers: Vec<String> = std::fs::read_dir(&w)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("rtl4ml-tmp") || n.contains("rtl4ml-old"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
