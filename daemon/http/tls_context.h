// Building the server-side OpenSSL context and reading the peer certificate.
// Internal to kmsd_http (includes Asio's SSL headers).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "common/result.h"
#include "daemon/http/handler.h"
#include "daemon/http/server_config.h"

namespace kmsd::http {

// A context for NEW connections: TLS 1.2 minimum (1.3 preferred by OpenSSL),
// TLS 1.2 restricted to ECDHE key exchange with AEAD ciphers, no compression,
// no renegotiation, no session tickets. The private key file is read into a
// kmsd::Secret, parsed from memory and wiped. With require_client_certificate
// the peer must present a certificate that verifies against client_ca_file.
//
// Fails with kInvalidArgument naming which file could not be used (never its
// contents). Connections copy the shared_ptr, so a reload never pulls the
// context out from under a live connection.
Result<std::shared_ptr<boost::asio::ssl::context>> BuildServerTlsContext(const TlsConfig& config);

// Fills the certificate fields of `peer` from a verified peer certificate of
// `ssl`; leaves them empty when the peer sent none.
void ReadPeerCertificate(SSL* ssl, PeerInfo& peer);

}  // namespace kmsd::http
