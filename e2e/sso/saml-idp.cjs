// Starts npm `saml-idp` (its own command line, unchanged: --port, --acsUrl, --audience, --issuer,
// --cert, --key, --configFile ...) with two settings its command line lacks, from the environment,
// and with --disableRequestAcsUrl doing what it says (see below):
//
//   SAML_IDP_LIFETIME_SECONDS  the assertion's lifetime: NotOnOrAfter = now + this (saml-idp
//                              fixes it at 3600). Negative: already expired when issued.
//   SAML_IDP_METADATA_CERT     a PEM certificate /metadata publishes instead of --cert, so that
//                              the IdP signs (and embeds --cert in the signature) with a key the
//                              metadata does not name.
//
// All are applied by wrapping the samlp functions saml-idp calls for each request.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const idpMain = require.resolve('saml-idp');
const samlp = require(require.resolve('samlp', { paths: [path.dirname(idpMain)] }));

const lifetime = process.env.SAML_IDP_LIFETIME_SECONDS;
const seconds = lifetime ? Number(lifetime) : undefined;
if (lifetime && (!Number.isInteger(seconds) || seconds === 0)) {
  console.error(`SAML_IDP_LIFETIME_SECONDS must be a non-zero integer, not ${lifetime}`);
  process.exit(2);
}
const auth = samlp.auth;
samlp.auth = (options) => auth({
  ...options,
  ...(seconds ? { lifetimeInSeconds: seconds } : {}),
  // saml-idp 1.2.1 posts to the AuthnRequest's AssertionConsumerServiceURL even with
  // --disableRequestAcsUrl (the flag only changes Recipient and Destination); with the flag,
  // post to the configured --acsUrl, as an IdP with a registered ACS does.
  ...(options.allowRequestAcsUrl ? {} : {
    getPostURL: (audience, request, req, callback) => callback(null, options.acsUrl),
  }),
});

const metadataCert = process.env.SAML_IDP_METADATA_CERT;
if (metadataCert) {
  const cert = fs.readFileSync(metadataCert, 'utf8');
  const metadata = samlp.metadata;
  samlp.metadata = (options) => metadata({ ...options, cert });
}

require(idpMain).main();
