#include "cli/kmsctl/commands.h"

#include <openssl/crypto.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <fstream>
#include <functional>
#include <map>
#include <ostream>
#include <sstream>

#include "broker/audit/audit_files.h"
#include "broker/audit/verify.h"
#include "cli/client/client.h"
#include "cli/kmsctl/authz_claims.h"
#include "cli/kmsctl/dev_mint.h"
#include "cli/kmsctl/exit_codes.h"
#include "cli/recording/fd_io.h"
#include "cli/recording/file_crypto.h"
#include "cli/recording/progress.h"
#include "common/json/strict_json.h"
#include "common/secret.h"

namespace kmsd::kmsctl {
namespace {

namespace fs = std::filesystem;
using client::Client;
using client::ClientError;

void Wipe(std::string& text) {
  OPENSSL_cleanse(text.data(), text.size());
  text.clear();
}

// Reads a whole small file (policy, facts, keys). nullopt when unreadable.
std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return text.str();
}

// A dev key file that is missing, unreadable by policy or not a key is the
// caller's to fix (wrong --data-dir): usage. Only internal failures are 1.
int DevKeyExit(const Error& error) {
  return error.code == ErrorCode::kInternal ? kExitOther : kExitUsage;
}

class Runner {
 public:
  Runner(const Settings& s, std::ostream& out, std::ostream& err) : s_(s), out_(out), err_(err) {}

  int Run() {
    static const std::map<std::string, int (Runner::*)()> kCommands{
        {"dev token", &Runner::DevToken},
        {"dev authz", &Runner::DevAuthz},
        {"datakey generate", &Runner::DatakeyGenerate},
        {"datakey decrypt", &Runner::DatakeyDecrypt},
        {"encrypt-file", &Runner::EncryptFile},
        {"decrypt-file", &Runner::DecryptFile},
        {"policy get", &Runner::PolicyGet},
        {"policy set", &Runner::PolicySet},
        {"policy evaluate", &Runner::PolicyEvaluate},
        {"keys list", &Runner::KeysList},
        {"keys rotate", &Runner::KeysRotate},
        {"keys rewrap", &Runner::KeysRewrap},
        {"keys destroy", &Runner::KeysDestroy},
        {"records show", &Runner::RecordsShow},
        {"records destroy", &Runner::RecordsDestroy},
        {"audit verify", &Runner::AuditVerify},
    };
    const auto it = kCommands.find(s_.command);
    if (it == kCommands.end()) {
      err_ << "kmsctl: no command given; see kmsctl --help\n";
      return kExitUsage;
    }
    return (this->*(it->second))();
  }

 private:
  int Fail(int code, const std::string& message) {
    err_ << "kmsctl: " << message << "\n";
    return code;
  }
  int FailCall(const ClientError& error) {
    // The daemon's words are shown with their control characters escaped: a
    // reply must not be able to forge a line of ours or steer the terminal.
    std::string message = Printable(MessageFor(error, client_ ? client_->url().text : s_.url));
    // A rejected document: every problem the daemon listed, one per line.
    for (const std::string& problem : error.problems) message += "\n  " + Printable(problem);
    return Fail(ExitCodeFor(error), message);
  }

  static std::string Printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7f) {
        constexpr char kHex[] = "0123456789abcdef";
        out += "\\x";
        out += kHex[byte >> 4];
        out += kHex[byte & 0xf];
      } else {
        out += c;
      }
    }
    return out;
  }

  // Builds the client from the global options; returns an exit code on failure.
  std::optional<int> Connect() {
    client::ClientOptions options;
    options.url = s_.url;
    if (!s_.token_file.empty()) {
      auto text = ReadSmallFile(s_.token_file);
      if (!text) return Fail(kExitUsage, "cannot read --token-file " + s_.token_file);
      std::size_t end = text->size();
      while (end > 0 && std::isspace(static_cast<unsigned char>((*text)[end - 1]))) --end;
      options.bearer_token = Secret::CopyOf(std::string_view(*text).substr(0, end));
      Wipe(*text);
    } else if (!s_.token.empty()) {
      options.bearer_token = Secret::CopyOf(s_.token);
    }
    options.tls = {s_.ca_file, s_.cert_file, s_.key_file};
    auto created = Client::Create(std::move(options));
    if (!created) return FailCall(created.error());
    client_ = std::move(*created);
    return std::nullopt;
  }

  // Calls a route and prints its JSON reply (if any) on stdout.
  int Print(std::string_view method, const std::string& path, std::string_view body) {
    if (auto failed = Connect()) return *failed;
    auto reply = client_->Call(method, path, body);
    if (!reply) return FailCall(reply.error());
    // Every reply of the contract is JSON (which holds no raw control
    // characters); anything else is not printed as if it were one.
    if (!reply->body.empty() && !json::IsStrictJson(reply->body)) {
      Wipe(reply->body);
      return Fail(kExitOther, "the daemon at " + client_->url().text +
                                  " sent a reply that is not JSON: is the URL really a kmsd API "
                                  "address?");
    }
    if (!reply->body.empty()) out_ << reply->body << "\n";
    out_.flush();
    Wipe(reply->body);
    return kExitOk;
  }

  int DevToken() {
    auto ttl = ParseTtl(s_.ttl.empty() ? "1h" : s_.ttl);
    if (!ttl) return Fail(kExitUsage, "--ttl: " + ttl.error().message);
    auto roles = ParseRoles(s_.roles);
    if (!roles) return Fail(kExitUsage, roles.error().message);
    DevTokenSpec spec{s_.data_dir,       s_.tenant, s_.subject,
                      std::move(*roles), *ttl,      SystemClock().Now()};
    auto token = MintDevToken(spec);
    if (!token) return Fail(DevKeyExit(token.error()), token.error().message);
    out_ << *token << "\n";
    return kExitOk;
  }

  int DevAuthz() {
    auto ttl = ParseTtl(s_.ttl.empty() ? "5m" : s_.ttl);
    if (!ttl) return Fail(kExitUsage, "--ttl: " + ttl.error().message);
    DevAuthzSpec spec{s_.data_dir,  s_.tenant, s_.context_id,
                      std::nullopt, *ttl,      SystemClock().Now()};
    if (!s_.subject.empty()) spec.subject = s_.subject;
    auto token = MintDevAuthz(spec);
    if (!token) return Fail(DevKeyExit(token.error()), token.error().message);
    out_ << *token << "\n";
    return kExitOk;
  }

  std::string GenerateBody() const {
    boost::json::object body{{"asset_type", s_.asset_type}, {"asset_id", s_.asset_id}};
    if (!s_.context_id.empty()) body["context_id"] = s_.context_id;
    return boost::json::serialize(body);
  }

  int DatakeyGenerate() { return Print("POST", "/v1/datakeys", GenerateBody()); }

  int DatakeyDecrypt() {
    std::string body = boost::json::serialize(
        boost::json::object{{"context_id", s_.context_id}, {"authorization_token", s_.authz}});
    const int code = Print("POST", "/v1/datakeys/decrypt", body);
    Wipe(body);
    return code;
  }

  // Checked before the daemon is asked: a key record made for an output that
  // cannot be written protects nothing, and a decrypt would spend its token.
  // The probe is the temporary file the real write starts with, removed again.
  std::optional<int> CheckOutputWritable() {
    std::error_code ec;
    if (fs::is_directory(s_.out, ec)) {
      return Fail(kExitUsage, "the output " + s_.out + " is a directory");
    }
    auto probe = recording::AtomicOutput::Create(s_.out);
    if (!probe) {
      return Fail(kExitUsage,
                  "cannot write the output " + s_.out + " (" + probe.error().message + ")");
    }
    return std::nullopt;
  }

  int EncryptFile() {
    if (auto failed = Connect()) return *failed;
    std::error_code ec;
    if (!fs::is_regular_file(s_.in, ec)) {
      return Fail(kExitUsage, "the input " + s_.in + " is not a readable regular file");
    }
    if (auto failed = CheckOutputWritable()) return *failed;
    client::GenerateRequest request{s_.asset_type, s_.asset_id, std::nullopt, std::nullopt};
    if (!s_.context_id.empty()) request.context_id = s_.context_id;
    auto key = client_->GenerateDataKey(request);
    if (!key) return FailCall(key.error());
    recording::EncryptOptions options;
    options.context_id = key->context_id;
    if (s_.chunk_size != 0) options.chunk_size = s_.chunk_size;
    options.pipeline.progress = recording::TerminalProgress("encrypt " + s_.in);
    const auto done = recording::EncryptFile(s_.in, s_.out, key->plaintext_key, options);
    key->plaintext_key = Secret();  // wiped now, not at scope end
    if (!done) {
      return Fail(ExitCodeFor(done.error()),
                  "encrypting " + s_.in + " failed (" +
                      std::string(ErrorCodeName(done.error().code)) + ": " + done.error().message +
                      "); the key record " + key->context_id +
                      " was created but protects nothing: `kmsctl records destroy " +
                      key->context_id + "` removes it");
    }
    out_ << boost::json::serialize(boost::json::object{{"context_id", key->context_id}}) << "\n";
    return kExitOk;
  }

  int DecryptFile() {
    auto context_id = recording::ReadContextId(s_.in);
    if (!context_id) {
      return Fail(ExitCodeFor(context_id.error(), true),
                  "cannot read the header of " + s_.in + " (" +
                      std::string(ErrorCodeName(context_id.error().code)) + ": " +
                      context_id.error().message + "): is it a .kmsenc file made by encrypt-file?");
    }
    // The header is authenticated only once the key is known; a context id
    // changed in it would otherwise surface as a refused token. Say what it is.
    if (const auto issued_for = UnverifiedContextClaim(s_.authz);
        issued_for && *issued_for != *context_id) {
      return Fail(kExitIntegrity, "REFUSED: the header of " + s_.in + " names context " +
                                      *context_id + " but the authorization token was issued for " +
                                      *issued_for +
                                      ": the file was altered, or the token is for another file; " +
                                      s_.out + " was not written");
    }
    if (auto failed = CheckOutputWritable()) return *failed;
    if (auto failed = Connect()) return *failed;
    auto key = client_->DecryptDataKey(*context_id, s_.authz);
    if (!key) return FailCall(key.error());
    recording::PipelineOptions options;
    options.progress = recording::TerminalProgress("decrypt " + s_.in);
    const auto done = recording::DecryptFile(s_.in, s_.out, key->plaintext_key, options);
    key->plaintext_key = Secret();
    if (!done) {
      const bool tamper = done.error().code == ErrorCode::kIntegrity;
      return Fail(ExitCodeFor(done.error(), true),
                  std::string(tamper ? "REFUSED: " : "") + "decrypting " + s_.in + " failed (" +
                      std::string(ErrorCodeName(done.error().code)) + ": " + done.error().message +
                      "); " + s_.out + " was not written" +
                      (tamper ? ": the file was altered or truncated since it was encrypted" : ""));
    }
    return kExitOk;
  }

  int PolicyGet() { return Print("GET", "/v1/policy", {}); }

  int SendFile(std::string_view method, const std::string& path) {
    const auto text = ReadSmallFile(s_.file);
    if (!text) return Fail(kExitUsage, "cannot read " + s_.file);
    return Print(method, path, *text);
  }
  int PolicySet() { return SendFile("PUT", "/v1/policy"); }
  int PolicyEvaluate() { return SendFile("POST", "/v1/policy/evaluate"); }
  int KeysList() { return Print("GET", "/v1/keys", {}); }
  int KeysRotate() { return Print("POST", "/v1/keys/rotate", "{}"); }
  int KeysDestroy() {
    return Print("DELETE",
                 "/v1/keys/" + std::to_string(s_.key_version) + (s_.force ? "?force=true" : ""),
                 {});
  }

  // Steps until no record is left under an old version; prints each step.
  int KeysRewrap() {
    if (auto failed = Connect()) return *failed;
    const std::string body = "{\"batch\":" + std::to_string(s_.batch) + "}";
    for (;;) {
      auto reply = client_->Call("POST", "/v1/keys/rewrap", body);
      if (!reply) return FailCall(reply.error());
      out_ << reply->body << "\n";
      out_.flush();
      boost::system::error_code ec;
      const auto parsed = boost::json::parse(reply->body, ec);
      const auto* remaining =
          !ec && parsed.is_object() ? parsed.as_object().if_contains("remaining") : nullptr;
      if (remaining == nullptr || !remaining->is_number()) {
        return Fail(kExitOther, "the daemon's rewrap reply has no \"remaining\" count");
      }
      const auto rewrapped = parsed.as_object().if_contains("rewrapped");
      if (remaining->to_number<std::uint64_t>() == 0) return kExitOk;
      if (rewrapped == nullptr || rewrapped->to_number<std::uint64_t>() == 0) {
        return Fail(kExitOther, "rewrap made no progress; see the daemon's log");
      }
    }
  }
  int RecordsShow() {
    return Print("GET", "/v1/records/" + client::EscapePathSegment(s_.context_id), {});
  }
  int RecordsDestroy() {
    const int code = Print("DELETE", "/v1/records/" + client::EscapePathSegment(s_.context_id), {});
    if (code == kExitOk) err_ << "kmsctl: destroyed " << s_.context_id << "\n";
    return code;
  }

  // The files to check, directories expanded to their audit files in order.
  std::vector<fs::path> AuditFiles() const {
    std::vector<fs::path> files;
    for (const auto& arg : s_.files) {
      std::error_code ec;
      if (fs::is_directory(arg, ec)) {
        for (const auto& f : audit::ListAuditFiles(arg)) files.push_back(f.path);
      } else {
        files.emplace_back(arg);
      }
    }
    return files;
  }

  // Default key (docs/dev-mode.md): audit-signer.pub.pem in the audit dir of
  // the first path, else in that dir's parent (older dev layouts).
  std::string DefaultPublicKey() const {
    std::error_code ec;
    const fs::path first(s_.files.front());
    fs::path audit_dir = fs::is_directory(first, ec) ? first : first.parent_path();
    if (audit_dir.empty()) audit_dir = ".";
    audit_dir = fs::absolute(audit_dir, ec).lexically_normal();
    if (!audit_dir.has_filename()) audit_dir = audit_dir.parent_path();  // "x/" → "x"
    const fs::path inside = audit_dir / "audit-signer.pub.pem";
    if (fs::exists(inside, ec)) return inside.string();
    return (audit_dir.parent_path() / "audit-signer.pub.pem").string();
  }

  int AuditVerify() {
    // A mistyped path is named as such, before the key derived from it.
    for (const auto& arg : s_.files) {
      std::error_code ec;
      if (!fs::exists(arg, ec)) return Fail(kExitUsage, "cannot read audit path " + arg);
    }
    const std::string key_path = s_.public_key.empty() ? DefaultPublicKey() : s_.public_key;
    const auto key = ReadSmallFile(key_path);
    if (!key) {
      return Fail(kExitUsage, "cannot read the audit signer's public key " + key_path +
                                  ": pass --public-key PEM");
    }
    const auto files = AuditFiles();
    if (files.empty()) return Fail(kExitUsage, "no audit files found in the paths given");
    const auto report = audit::VerifyAuditFiles(
        files, std::span(reinterpret_cast<const std::uint8_t*>(key->data()), key->size()),
        {.max_unanchored_events = s_.max_unanchored});
    out_ << audit::FormatVerifyReport(report) << "\n";
    switch (report.status) {
      case audit::VerifyReport::Status::kOk: return kExitOk;
      case audit::VerifyReport::Status::kUnanchoredTail:
        err_ << "kmsctl: warning: " << report.unanchored_events
             << " event(s) after the last signed checkpoint are not yet anchored (normal for a "
                "live log; after a crash or a cut, they cannot be proven)\n";
        return s_.strict ? kExitIntegrity : kExitOk;
      case audit::VerifyReport::Status::kEmpty:
        err_ << "kmsctl: warning: the audit files hold no line: nothing is proven (normal for a "
                "daemon that has recorded nothing yet; also what an emptied log looks like)\n";
        return s_.strict ? kExitIntegrity : kExitOk;
      case audit::VerifyReport::Status::kFailed: break;
    }
    if (report.problem && report.problem->kind == audit::ProblemKind::kBadPublicKey) {
      return Fail(kExitUsage, key_path + " is not an EC P-256 public key (PEM or DER)");
    }
    if (report.problem && report.problem->kind == audit::ProblemKind::kUnreadable) {
      return Fail(kExitOther, "cannot read " + report.problem->file);
    }
    if (report.problem && report.problem->kind == audit::ProblemKind::kUnanchoredTooLong) {
      // A live log signs a checkpoint at least every checkpoint_every_events:
      // a longer tail is what a rewritten log with its checkpoints dropped
      // looks like (or a signer that failed that long). Either way, unproven.
      return Fail(kExitIntegrity,
                  "the audit log FAILED verification: more than --max-unanchored " +
                      std::to_string(s_.max_unanchored) +
                      " events follow the last signed checkpoint, from the line named above: "
                      "checkpoints are missing (removed, or the signer failed)");
    }
    return Fail(kExitIntegrity, "the audit log FAILED verification: see the line named above");
  }

  const Settings& s_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<Client> client_;
};

}  // namespace

int RunCommand(const Settings& settings, std::ostream& out, std::ostream& err) {
  try {
    return Runner(settings, out, err).Run();
  } catch (const std::exception&) {
    // Last resort (e.g. std::bad_alloc); the exception text is not printed in
    // case it carries input bytes.
    err << "kmsctl: internal error\n";
    return kExitOther;
  }
}

}  // namespace kmsd::kmsctl
