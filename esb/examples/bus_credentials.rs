//! Test transport credentials for a real bus process (`qaqpa serve bus --ca-root`), from the
//! harness's NCA RK stand-in (`qaqpa_sim::eds`), and signed requests made with them
//! (`qaqpa_sim::wssec`): what `scripts/bench-bus` and a hand session with a SOAP client use.
//!
//!   cargo run -p qaqpa-esb --example bus_credentials -- issue DIR SEED SYSTEM...
//!     writes DIR/root.pem and, for each SYSTEM, DIR/SYSTEM.pem (certificate, valid from 30
//!     days ago for a year) and DIR/SYSTEM.key.pem (unencrypted PKCS#8, P-256).
//!   cargo run -p qaqpa-esb --example bus_credentials -- sign CERT.pem KEY.pem < BODY > ENVELOPE
//!     signs the Body content read from standard input.
//!   cargo run -p qaqpa-esb --example bus_credentials -- seeds DIR
//!     writes seeds for the `soap_envelope` fuzz target: a SendMessage and a sendMessage signed
//!     by the Fund (seed 1, the target's own test root), and each forgery of `wssec::Forgery`.

use std::io::Read;

use qaqpa_sim::eds::{TestPki, TransportCertificate};
use qaqpa_sim::wssec;

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("issue") if args.len() >= 4 => {
            let dir = std::path::Path::new(&args[1]);
            let seed: u64 = args[2]
                .parse()
                .map_err(|_| format!("SEED `{}` is not a number", args[2]))?;
            let now = jiff::Timestamp::now();
            let mut pki = TestPki::new(seed, now).map_err(|e| e.to_string())?;
            let write = |name: &str, text: String| {
                let p = dir.join(name);
                std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
            };
            write("root.pem", wssec::pem("CERTIFICATE", pki.nca_root_der()))?;
            for system in &args[3..] {
                let t = pki
                    .transport(system, TransportCertificate::Valid, now)
                    .map_err(|e| e.to_string())?;
                write(&format!("{system}.pem"), wssec::pem("CERTIFICATE", &t.cert_der))?;
                write(&format!("{system}.key.pem"), wssec::pem("PRIVATE KEY", &t.key_pkcs8))?;
            }
            Ok(())
        }
        Some("seeds") if args.len() == 2 => {
            let dir = std::path::Path::new(&args[1]);
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let at: jiff::Timestamp = "2025-03-18T05:00:00Z".parse().expect("an instant");
            let mut pki = TestPki::new(1, at).map_err(|e| e.to_string())?;
            let fund = pki.transport("fund", TransportCertificate::Valid, at).map_err(|e| e.to_string())?;
            let kgd = pki.transport("kgd", TransportCertificate::Valid, at).map_err(|e| e.to_string())?;
            let sync = |data: &str| format!(
                "<t:SendMessage xmlns:t=\"http://bip.bee.kz/SyncChannel/v10/Types\"><request><requestInfo><messageId>m-1</messageId><serviceId>S</serviceId><messageDate>2025-03-18T05:00:00Z</messageDate><sender><senderId>fund</senderId></sender></requestInfo><requestData><data>{data}</data></requestData></request></t:SendMessage>"
            );
            let asyn = "<t:sendMessage xmlns:t=\"http://bip.bee.kz/AsyncChannel/v10/Types\"><request><messageInfo><serviceId>S</serviceId><messageType>REQUEST</messageType><messageDate>2025-03-18T05:00:00Z</messageDate><sender><senderId>fund</senderId></sender></messageInfo><messageData><data>q</data></messageData></request></t:sendMessage>";
            let mut n = 0;
            for f in wssec::Forgery::ALL {
                let xml = wssec::forge(f, &sync("real"), &sync("decoy"), &fund, &kgd).map_err(|e| e.to_string())?;
                std::fs::write(dir.join(format!("wssec-{}.xml", f.as_str())), xml).map_err(|e| e.to_string())?;
                n += 1;
            }
            let xml = wssec::sign(asyn, &fund).map_err(|e| e.to_string())?;
            std::fs::write(dir.join("wssec-async.xml"), xml).map_err(|e| e.to_string())?;
            eprintln!("bus_credentials: {} seeds in {}", n + 1, dir.display());
            Ok(())
        }
        Some("sign") if args.len() == 3 => {
            let read = |p: &str| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
            let cred = wssec::transport_from_pem(&read(&args[1])?, &read(&args[2])?)?;
            let mut body = String::new();
            std::io::stdin()
                .read_to_string(&mut body)
                .map_err(|e| format!("standard input: {e}"))?;
            let signed = wssec::sign(body.trim(), &cred).map_err(|e| e.to_string())?;
            print!("{signed}");
            Ok(())
        }
        _ => Err("usage: bus_credentials issue DIR SEED SYSTEM... | sign CERT.pem KEY.pem < BODY | seeds DIR".into()),
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bus_credentials: {e}");
        std::process::exit(2);
    }
}
