#include "broker/audit/chain.h"

#include <openssl/evp.h>

#include <boost/json.hpp>
#include <cstring>

#include "common/json/strict_json.h"

namespace kmsd::audit {
namespace {

namespace bj = boost::json;

bool NeedsEscape(unsigned char c) { return c == '"' || c == '\\' || c < 0x20; }

void AppendQuoted(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  // Runs of characters that need no escape (nearly all of them) are appended
  // whole: start-up re-encodes every line of the log.
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!NeedsEscape(c)) continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(text[i]);
    } else {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(text.data() + run, text.size() - run);
  out.push_back('"');
}

// SHA-256 fetched once: an implicit fetch per digest (EVP_sha256() in
// EVP_Digest) costs as much as hashing a whole line.
const EVP_MD* Sha256Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

// Builds `{"k":v,...` without the closing brace, so that the hash member can
// be appended after hashing the version with the brace.
class Writer {
 public:
  Writer& Str(std::string_view key, std::string_view value) {
    Key(key);
    AppendQuoted(out_, value);
    return *this;
  }
  Writer& Num(std::string_view key, std::uint64_t value) {
    Key(key);
    out_ += std::to_string(value);
    return *this;
  }
  Writer& Hex(std::string_view key, std::span<const std::uint8_t> bytes) {
    return Str(key, ToHex(bytes));
  }
  // Closes the object, hashes it, appends `hash` and '\n'.
  std::string Seal(Digest* hash) {
    out_.push_back('}');
    *hash = Sha256(out_);
    out_.pop_back();
    Hex("hash", *hash);
    out_ += "}\n";
    return std::move(out_);
  }

 private:
  void Key(std::string_view key) {
    if (out_.empty()) {
      out_.reserve(640);  // a typical event line, so that it is built without regrowing
      out_.push_back('{');
    } else {
      out_.push_back(',');
    }
    AppendQuoted(out_, key);
    out_.push_back(':');
  }
  std::string out_;
};

bool FromHex(std::string_view hex, std::vector<std::uint8_t>& out) {
  if (hex.size() % 2 != 0) return false;
  out.clear();
  out.reserve(hex.size() / 2);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // uppercase is not canonical
  };
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return true;
}

// Reads members of a parsed object, remembering which were used, so that an
// unknown extra member can be refused.
class Reader {
 public:
  explicit Reader(const bj::object& obj) : obj_(obj) {}
  bool Str(std::string_view key, std::string& out) {
    const auto* v = obj_.if_contains(key);
    if (v == nullptr || !v->is_string()) return ok_ = false;
    ++used_;
    out.assign(v->get_string().data(), v->get_string().size());
    return true;
  }
  bool Num(std::string_view key, std::uint64_t& out) {
    const auto* v = obj_.if_contains(key);
    ++used_;
    if (v != nullptr && v->is_uint64()) {
      out = v->get_uint64();
    } else if (v != nullptr && v->is_int64() && v->get_int64() >= 0) {
      out = static_cast<std::uint64_t>(v->get_int64());
    } else {
      return ok_ = false;
    }
    return true;
  }
  bool Time(std::string_view key, Instant& out) {
    std::string text;
    if (!Str(key, text)) return false;
    auto t = ParseRfc3339(text);
    if (!t) return ok_ = false;
    out = *t;
    return true;
  }
  bool Digest32(std::string_view key, Digest& out) {
    std::string text;
    std::vector<std::uint8_t> bytes;
    if (!Str(key, text) || !FromHex(text, bytes) || bytes.size() != out.size()) return ok_ = false;
    std::memcpy(out.data(), bytes.data(), out.size());
    return true;
  }
  bool Bytes(std::string_view key, std::vector<std::uint8_t>& out) {
    std::string text;
    if (!Str(key, text) || !FromHex(text, out)) return ok_ = false;
    return true;
  }
  bool ok() const { return ok_ && used_ == obj_.size(); }

 private:
  const bj::object& obj_;
  std::size_t used_ = 0;
  bool ok_ = true;
};

Writer EventBody(const AuditEvent& e) {
  Writer w;
  w.Str("type", "event")
      .Num("seq", e.seq)
      .Str("time", FormatRfc3339(e.time))
      .Str("tenant", e.tenant)
      .Str("principal", e.principal)
      .Str("operation", OperationName(e.operation))
      .Str("context_id", e.context_id)
      .Str("asset_type", e.asset_type)
      .Str("asset_id", e.asset_id)
      .Str("decision", DecisionName(e.decision))
      .Str("rule", e.rule)
      .Num("policy_version", e.policy_version)
      .Str("request_id", e.request_id)
      .Str("outcome", OutcomeName(e))
      .Str("reason", e.reason);
  return w;
}

Writer CheckpointBody(const Checkpoint& cp) {
  Writer w;
  w.Str("type", "checkpoint")
      .Num("seq", cp.seq)
      .Str("time", FormatRfc3339(cp.time))
      .Str("key_id", cp.key_id)
      .Hex("sig", cp.signature);
  return w;
}

Writer NoticeBody(const Notice& n) {
  Writer w;
  w.Str("type", "notice")
      .Num("seq", n.seq)
      .Str("time", FormatRfc3339(n.time))
      .Str("note", n.note)
      .Str("detail", n.detail);
  return w;
}

}  // namespace

Digest Sha256(std::span<const std::uint8_t> bytes) {
  Digest out{};
  const EVP_MD* md = Sha256Md();
  if (md == nullptr ||
      EVP_Digest(bytes.data(), bytes.size(), out.data(), nullptr, md, nullptr) != 1) {
    // No SHA-256 provider: a digest that matches no line, so nothing verifies.
    out.fill(0xFF);
  }
  return out;
}

Digest Sha256(std::string_view bytes) {
  return Sha256(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::string ToHex(std::span<const std::uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const auto b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

std::string EncodeEventLine(const AuditEvent& event, const Digest& prev, Digest* hash) {
  return EventBody(event).Hex("prev", prev).Seal(hash);
}

std::string EncodeCheckpointLine(const Checkpoint& cp, const Digest& prev, Digest* hash) {
  return CheckpointBody(cp).Hex("prev", prev).Seal(hash);
}

std::string EncodeNoticeLine(const Notice& notice, const Digest& prev, Digest* hash) {
  return NoticeBody(notice).Hex("prev", prev).Seal(hash);
}

boost::system::result<ChainLine, LineError> ParseLine(std::string_view line) {
  auto parsed = json::ParseStrictJson(line, 2);
  if (!parsed || !parsed->is_object()) return LineError::kMalformed;
  const bj::object& obj = parsed->as_object();
  Reader r(obj);
  ChainLine out;
  std::string type;
  if (!r.Str("type", type)) return LineError::kMalformed;
  if (type == "event") {
    out.type = LineType::kEvent;
    AuditEvent& e = out.event;
    std::string op, decision, outcome;
    r.Num("seq", e.seq);
    r.Time("time", e.time);
    r.Str("tenant", e.tenant);
    r.Str("principal", e.principal);
    r.Str("operation", op);
    r.Str("context_id", e.context_id);
    r.Str("asset_type", e.asset_type);
    r.Str("asset_id", e.asset_id);
    r.Str("decision", decision);
    r.Str("rule", e.rule);
    r.Num("policy_version", e.policy_version);
    r.Str("request_id", e.request_id);
    r.Str("outcome", outcome);
    r.Str("reason", e.reason);
    const auto parsed_op = ParseOperation(op);
    const auto parsed_decision = ParseDecision(decision);
    if (!parsed_op || !parsed_decision) return LineError::kMalformed;
    e.operation = *parsed_op;
    e.decision = *parsed_decision;
    if (outcome != "ok") {
      const auto code = ParseErrorCodeName(outcome);
      if (!code) return LineError::kMalformed;
      e.error = *code;
    }
  } else if (type == "checkpoint") {
    out.type = LineType::kCheckpoint;
    r.Num("seq", out.checkpoint.seq);
    r.Time("time", out.checkpoint.time);
    r.Str("key_id", out.checkpoint.key_id);
    r.Bytes("sig", out.checkpoint.signature);
  } else if (type == "notice") {
    out.type = LineType::kNotice;
    r.Num("seq", out.notice.seq);
    r.Time("time", out.notice.time);
    r.Str("note", out.notice.note);
    r.Str("detail", out.notice.detail);
  } else {
    return LineError::kMalformed;
  }
  r.Digest32("prev", out.prev);
  r.Digest32("hash", out.hash);
  if (!r.ok()) return LineError::kMalformed;

  Digest computed{};
  std::string canonical;
  switch (out.type) {
    case LineType::kEvent: canonical = EncodeEventLine(out.event, out.prev, &computed); break;
    case LineType::kCheckpoint:
      canonical = EncodeCheckpointLine(out.checkpoint, out.prev, &computed);
      break;
    case LineType::kNotice: canonical = EncodeNoticeLine(out.notice, out.prev, &computed); break;
  }
  if (computed != out.hash) return LineError::kHashMismatch;
  canonical.pop_back();  // '\n'
  out.canonical = canonical == line;
  return out;
}

std::vector<std::uint8_t> CheckpointMessage(std::uint64_t seq, const Digest& chain_hash) {
  static constexpr std::string_view kLabel = "kmsd-audit-checkpoint-v1";
  std::vector<std::uint8_t> msg(kLabel.begin(), kLabel.end());
  msg.push_back(0);
  for (int shift = 56; shift >= 0; shift -= 8) {
    msg.push_back(static_cast<std::uint8_t>(seq >> shift));
  }
  msg.insert(msg.end(), chain_hash.begin(), chain_hash.end());
  return msg;
}

}  // namespace kmsd::audit
