//! The certificate authorities the AWS SDK's client trusts (`config::aws_https_client`), picked
//! from the Mozilla root set at build time: only the dozen picked are linked into the functions,
//! not the whole set (~150 certificates, ~200 KB of every zip).

use std::path::PathBuf;

/// The organisations AWS endpoints' certificates chain to: Amazon Trust Services, its Starfield
/// cross-sign, and DigiCert for endpoints not yet moved to Amazon's CA. A root's DER holds its
/// organisation's name as a plain string.
const AWS_CA_ORGANISATIONS: [&[u8]; 3] = [b"Amazon", b"Starfield Technologies", b"DigiCert Inc"];

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut list = String::from("&[\n");
    let picked = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| der.as_ref())
        .filter(|der| AWS_CA_ORGANISATIONS.iter().any(|org| der.windows(org.len()).any(|w| w == *org)));
    for (i, der) in picked.enumerate() {
        let file = format!("aws_ca_root_{i}.der");
        std::fs::write(out.join(&file), der).expect("OUT_DIR is writable");
        list.push_str(&format!("    include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{file}\")),\n"));
    }
    list.push_str("]\n");
    std::fs::write(out.join("aws_ca_roots.rs"), list).expect("OUT_DIR is writable");
    println!("cargo::rerun-if-changed=build.rs");
}
