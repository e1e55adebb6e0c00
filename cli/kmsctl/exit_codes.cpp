#include "cli/kmsctl/exit_codes.h"

namespace kmsd::kmsctl {

using client::ClientError;

ExitCode ExitCodeFor(const ClientError& error) {
  switch (error.kind) {
    case ClientError::Kind::kHttp: break;
    case ClientError::Kind::kConnect:
    case ClientError::Kind::kTimeout: return kExitUnavailable;
    case ClientError::Kind::kTls: return kExitRefused;
    case ClientError::Kind::kProtocol: return kExitOther;
    case ClientError::Kind::kInvalidArgument: return kExitUsage;
  }
  switch (error.status) {
    case 401:
    case 403:
    case 404:
    case 410: return kExitRefused;
    case 429:
    case 502:
    case 503:
    case 504: return kExitUnavailable;
    default: break;
  }
  if (error.status == 500 && error.code == "integrity_error") return kExitIntegrity;
  if (error.status >= 400 && error.status < 500) return kExitRequest;
  return kExitOther;
}

ExitCode ExitCodeFor(const Error& error, bool integrity_context) {
  switch (error.code) {
    case ErrorCode::kIntegrity: return kExitIntegrity;
    case ErrorCode::kInvalidArgument: return integrity_context ? kExitIntegrity : kExitUsage;
    default: return kExitOther;
  }
}

namespace {

std::string Detail(const ClientError& error) {
  std::string text = std::to_string(error.status);
  if (!error.code.empty()) text += " " + error.code;
  if (!error.rule.empty()) text += ", rule " + error.rule;
  if (!error.message.empty()) text += ": " + error.message;
  return "(" + text + ")";
}

std::string HttpMessage(const ClientError& error, const std::string& url) {
  const std::string at = "the daemon at " + url;
  const std::string detail = Detail(error);
  switch (error.status) {
    case 400:
      return at + " rejected the request as malformed " + detail +
             ": check the arguments and the JSON file given";
    case 401:
      return at + " refused the bearer token " + detail +
             ": mint a new one with `kmsctl dev token --data-dir DIR --tenant T --subject S "
             "--roles ...` (dev mode) or get one from your identity provider, and pass it with "
             "--token-file or KMSD_TOKEN";
    case 403:
      if (error.code == "invalid_authorization_token") {
        return at + " refused the authorization token " + detail +
               ": mint a fresh one for this context id and tenant (dev mode: `kmsctl dev authz "
               "...`); each token is accepted once and expires within minutes";
      }
      if (error.code == "policy_denied") {
        return at + " refused the request by tenant policy " + detail +
               ": see `kmsctl policy get`; an admin may change the rule named";
      }
      return at + " does not allow this caller " + detail +
             ": the bearer token lacks the role needed (encrypt, decrypt or admin) or names "
             "another tenant";
    case 404:
      return at + " knows no such record or route " + detail +
             ": check the context id and that the bearer token's tenant owns it";
    case 409:
      if (error.message.find("context id") != std::string::npos) {
        return at + " reports a conflict " + detail +
               ": the context id is already used in this tenant; choose another or omit it";
      }
      // KEK versions: the current one, or one records still use (`--force`).
      return at + " reports a conflict " + detail +
             ": see `kmsctl keys list`; rotate first, rewrap, or pass --force to shred";
    case 410:
      return at + " says the key was destroyed " + detail +
             ": the data it protected is unrecoverable by design";
    case 413:
      return at + " refused the request as too large " + detail + ": send a smaller document";
    case 429: return at + " is rate-limiting this caller " + detail + ": wait and try again";
    case 503:
      return at + " is unavailable " + detail + " after " + std::to_string(error.attempts) +
             " attempt(s): its token or store is not reachable; try again later, and check "
             "`" +
             url + "/readyz`";
    default: break;
  }
  if (error.status == 500 && error.code == "integrity_error") {
    return at + " found the record altered at rest " + detail +
           ": no key was released; tell the operator (the event is in the audit log)";
  }
  return at + " failed " + detail + ": see the daemon's log for the request id";
}

}  // namespace

std::string MessageFor(const ClientError& error, const std::string& url) {
  switch (error.kind) {
    case ClientError::Kind::kHttp: return HttpMessage(error, url);
    case ClientError::Kind::kConnect:
      return "cannot reach the daemon at " + url + " (" + error.message +
             "): is kmsd running? Start one with `kmsd --dev --data-dir DIR`, or point --url / "
             "KMSD_URL at it";
    case ClientError::Kind::kTimeout:
      return "the daemon at " + url + " did not answer in time (" + error.message +
             "): it may be overloaded or unreachable; try again later";
    case ClientError::Kind::kTls:
      return "TLS with the daemon at " + url + " failed (" + error.message +
             "): check --ca-file (the CA that signed the server's certificate), that the URL's "
             "host matches the certificate, and --cert-file/--key-file for mutual TLS";
    case ClientError::Kind::kProtocol:
      return "the daemon at " + url + " sent a reply kmsctl cannot use (" + error.message +
             "): is the URL really a kmsd API address?";
    case ClientError::Kind::kInvalidArgument: return error.message;
  }
  return error.message;
}

}  // namespace kmsd::kmsctl
