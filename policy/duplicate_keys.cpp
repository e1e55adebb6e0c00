#include "policy/duplicate_keys.h"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <unordered_set>

#include "common/json/strict_json.h"

namespace kmsd::policy::detail {
namespace {

namespace bj = boost::json;
using boost::system::error_code;

constexpr std::string_view kFieldNames[] = {"version",
                                            "updated_at",
                                            "default",
                                            "rules",
                                            "id",
                                            "effect",
                                            "operations",
                                            "asset_types",
                                            "asset_ids",
                                            "created_between",
                                            "created_older_than",
                                            "created_newer_than",
                                            "not_before",
                                            "not_after",
                                            "within_windows",
                                            "outside_windows",
                                            "principals",
                                            "roles",
                                            "start",
                                            "end",
                                            "days",
                                            "time_zone"};

bool IsFieldName(std::string_view key) {
  return std::find(std::begin(kFieldNames), std::end(kFieldNames), key) != std::end(kFieldNames);
}

// A SAX handler that keeps the path of the value being parsed and the keys
// seen by each open object; unlike the strict parser it keeps going after a
// duplicate so that all of them are reported.
class Scanner {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  std::vector<std::string> duplicates;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return Open(false); }
  bool on_object_end(std::size_t, error_code&) { return Close(); }
  bool on_array_begin(error_code&) { return Open(true); }
  bool on_array_end(std::size_t, error_code&) { return Close(); }
  bool on_key_part(bj::string_view part, std::size_t, error_code&) {
    key_.append(part.data(), part.size());
    return true;
  }
  bool on_key(bj::string_view part, std::size_t, error_code&) {
    key_.append(part.data(), part.size());
    Frame& top = stack_.back();
    const bool known = IsFieldName(key_);
    top.key_path = known ? Join(top.path, key_) : top.path;
    if (!top.keys.insert(std::move(key_)).second) duplicates.push_back(top.key_path);
    key_.clear();
    return true;
  }
  bool on_string_part(bj::string_view, std::size_t, error_code&) { return true; }
  bool on_string(bj::string_view, std::size_t, error_code&) { return Scalar(); }
  bool on_number_part(bj::string_view, error_code&) { return true; }
  bool on_int64(std::int64_t, bj::string_view, error_code&) { return Scalar(); }
  bool on_uint64(std::uint64_t, bj::string_view, error_code&) { return Scalar(); }
  bool on_double(double, bj::string_view, error_code&) { return Scalar(); }
  bool on_bool(bool, error_code&) { return Scalar(); }
  bool on_null(error_code&) { return Scalar(); }
  bool on_comment_part(bj::string_view, error_code&) { return true; }
  bool on_comment(bj::string_view, error_code&) { return true; }

 private:
  struct Frame {
    bool is_array;
    std::string path;
    std::size_t next_index = 0;
    std::string key_path;
    std::unordered_set<std::string> keys;
  };

  static std::string Join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  std::string ChildPath() {
    if (stack_.empty()) return {};
    Frame& top = stack_.back();
    if (top.is_array) return top.path + "[" + std::to_string(top.next_index++) + "]";
    return top.key_path;
  }
  bool Open(bool is_array) {
    stack_.push_back(Frame{is_array, ChildPath(), 0, {}, {}});
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }
  bool Scalar() {
    ChildPath();  // advances the index of an enclosing array
    return true;
  }

  std::vector<Frame> stack_;
  std::string key_;
};

}  // namespace

std::vector<std::string> FindDuplicateKeys(std::string_view json_text, bool* malformed) {
  bj::parse_options options;
  options.max_depth = json::kDefaultMaxDepth;
  bj::basic_parser<Scanner> parser(options);
  error_code ec;
  parser.write_some(false, json_text.data(), json_text.size(), ec);
  if (malformed != nullptr) *malformed = static_cast<bool>(ec);
  return std::move(parser.handler().duplicates);
}

}  // namespace kmsd::policy::detail
