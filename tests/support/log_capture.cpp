#include "tests/support/log_capture.h"

#include <openssl/evp.h>
#include <spdlog/sinks/dist_sink.h>

#include <algorithm>

namespace kmsd::testing {
namespace {

std::string Hex(std::span<const std::uint8_t> bytes, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

std::string Base64(std::span<const std::uint8_t> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

// Captures are added to and removed from this one sink, which locks around
// both and around every log call: the default logger's own sink vector is
// not safe to change while other threads log. Installed at start-up, before
// any test starts a thread.
spdlog::sinks::dist_sink_mt& Captures() {
  static const auto sink = [] {
    auto dist = std::make_shared<spdlog::sinks::dist_sink_mt>();
    dist->set_level(spdlog::level::trace);
    spdlog::default_logger()->sinks().push_back(dist);
    return dist;
  }();
  return *sink;
}
[[maybe_unused]] const bool kCapturesInstalled = (Captures(), true);

}  // namespace

LogCapture::LogCapture()
    : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_)),
      previous_level_(spdlog::default_logger()->level()) {
  Captures().add_sink(sink_);
  spdlog::default_logger()->set_level(spdlog::level::trace);
}

LogCapture::~LogCapture() {
  Captures().remove_sink(sink_);
  spdlog::default_logger()->set_level(previous_level_);
}

std::string LogCapture::Text() const {
  sink_->flush();
  return stream_.str();
}

bool LogCapture::Contains(std::span<const std::uint8_t> needle) const {
  if (needle.empty()) return false;
  const std::string text = Text();
  const std::string raw(needle.begin(), needle.end());
  return text.find(raw) != std::string::npos ||
         text.find(Hex(needle, false)) != std::string::npos ||
         text.find(Hex(needle, true)) != std::string::npos ||
         text.find(Base64(needle)) != std::string::npos;
}

}  // namespace kmsd::testing
