//! `make openapi`: writes the contract generated from the code to infra/openapi.yaml.
//! `--check` only compares, and fails when the committed file differs.

fn main() {
    let path = max_dev::repo_root().join(max_dev::openapi::COMMITTED);
    let generated = max_dev::openapi::yaml();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if std::env::args().any(|a| a == "--check") {
        if committed != generated {
            eprintln!("{} differs from the code's contract: run `make openapi`", path.display());
            std::process::exit(1);
        }
        println!("{} is up to date", path.display());
    } else if committed == generated {
        println!("{} is up to date", path.display());
    } else {
        std::fs::write(&path, generated).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        println!("wrote {}", path.display());
    }
}
