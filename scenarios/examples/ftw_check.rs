//! Reads every go-ftw file under a folder and prints the errors (a syntax check, like
//! `go-ftw check`).
fn main() {
    let dir = std::env::args().nth(1).expect("a folder");
    let mut files = Vec::new();
    fn walk(d: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    walk(std::path::Path::new(&dir), &mut files);
    files.sort();
    let (mut ok, mut bad, mut generic_bad) = (0, 0, 0);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if serde_saphyr::from_str::<serde_json::Value>(&text).is_err() {
            generic_bad += 1;
        }
        if std::env::var("KEYS").is_ok() && qaqpa_scenarios::ftw::parse(&text, f).is_err() {
            keys(&text);
        }
        match qaqpa_scenarios::ftw::parse(&text, f) {
            Ok(_) => ok += 1,
            Err(e) => {
                bad += 1;
                println!("{e}");
            }
        }
    }
    println!("{ok} files read, {bad} refused; {generic_bad} not even read as plain YAML");
}
#[allow(dead_code)]
fn keys(text: &str) {
    let v: serde_json::Value = serde_saphyr::from_str(text).unwrap();
    if let Some(o) = v.as_object() {
        for (k, v) in o {
            println!(
                "{k}: {}",
                match v {
                    serde_json::Value::Object(m) =>
                        format!("{{{}}}", m.keys().cloned().collect::<Vec<_>>().join(",")),
                    serde_json::Value::Array(a) => format!("[{} items]", a.len()),
                    _ => "scalar".into(),
                }
            );
        }
    }
}
