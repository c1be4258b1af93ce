//! Prints an SP-initiated AuthnRequest redirect for the IdP whose metadata file is the first
//! argument, as the fixtures' tenant (`acme` on localhost:7860) would send it. Used by
//! `src/sso/fixtures/saml/capture.sh` to capture real IdP responses for the unit tests.

use auth::sso::saml::{IdpMetadata, ServiceProvider};
use chrono::{SecondsFormat, Utc};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: saml_authn_request IDP-METADATA.xml")?;
    let idp = IdpMetadata::parse(&std::fs::read_to_string(path)?)?;
    let sp = ServiceProvider {
        entity_id: "http://localhost:7860/auth/saml/acme".into(),
        acs_url: "http://localhost:7860/auth/saml/acs".into(),
    };
    let now = Utc::now();
    let redirect = sp.authn_request(&idp, "capture-relay-state", now)?;
    println!("REQUEST_ID={}", redirect.request_id);
    println!("REQUEST_TIME={}", now.to_rfc3339_opts(SecondsFormat::Secs, true));
    println!("URL={}", redirect.url);
    Ok(())
}
