#include "common/json/strict_json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <string>
#include <unordered_set>
#include <vector>

namespace kmsd::json {
namespace {

namespace bj = boost::json;
using boost::system::error_code;

// A SAX pass that only checks what Boost.JSON's DOM parser lets through:
// duplicate keys. Each open object keeps the set of keys seen so far.
class DuplicateKeyCheck {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  bool duplicate_found = false;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) {
    open_objects_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, error_code&) {
    open_objects_.pop_back();
    return true;
  }
  bool on_array_begin(error_code&) { return true; }
  bool on_array_end(std::size_t, error_code&) { return true; }
  bool on_key_part(bj::string_view part, std::size_t, error_code&) {
    key_.append(part.data(), part.size());
    return true;
  }
  bool on_key(bj::string_view part, std::size_t, error_code& ec) {
    key_.append(part.data(), part.size());
    const bool inserted = open_objects_.back().insert(std::move(key_)).second;
    key_.clear();
    if (!inserted) {
      duplicate_found = true;
      ec = bj::error::syntax;  // stops the parser
      return false;
    }
    return true;
  }
  bool on_string_part(bj::string_view, std::size_t, error_code&) { return true; }
  bool on_string(bj::string_view, std::size_t, error_code&) { return true; }
  bool on_number_part(bj::string_view, error_code&) { return true; }
  bool on_int64(std::int64_t, bj::string_view, error_code&) { return true; }
  bool on_uint64(std::uint64_t, bj::string_view, error_code&) { return true; }
  bool on_double(double, bj::string_view, error_code&) { return true; }
  bool on_bool(bool, error_code&) { return true; }
  bool on_null(error_code&) { return true; }
  bool on_comment_part(bj::string_view, error_code&) { return true; }
  bool on_comment(bj::string_view, error_code&) { return true; }

 private:
  std::vector<std::unordered_set<std::string>> open_objects_;
  std::string key_;
};

bj::parse_options StrictOptions(std::size_t max_depth) {
  bj::parse_options options;
  options.max_depth = max_depth;
  options.allow_comments = false;
  options.allow_trailing_commas = false;
  return options;
}

}  // namespace

bool IsStrictJson(std::string_view text, std::size_t max_depth) {
  bj::basic_parser<DuplicateKeyCheck> check(StrictOptions(max_depth));
  error_code ec;
  const std::size_t used = check.write_some(false, text.data(), text.size(), ec);
  return !ec && used == text.size() && !check.handler().duplicate_found;
}

Result<bj::value> ParseStrictJson(std::string_view text, std::size_t max_depth) {
  const bj::parse_options options = StrictOptions(max_depth);
  bj::basic_parser<DuplicateKeyCheck> check(options);
  error_code ec;
  check.write_some(false, text.data(), text.size(), ec);
  if (check.handler().duplicate_found) {
    return MakeError(ErrorCode::kInvalidArgument, "JSON object has a duplicate key");
  }
  if (ec) return MakeError(ErrorCode::kInvalidArgument, "malformed JSON");

  bj::value value = bj::parse(text, ec, {}, options);
  if (ec) return MakeError(ErrorCode::kInvalidArgument, "malformed JSON");
  return value;
}

}  // namespace kmsd::json
