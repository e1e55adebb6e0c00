// Which front gets a request on the shared API listener (docs/api.md): the
// XKS front takes paths containing "/kms/xks/", except the API's own /v1
// paths, where a context id may hold those bytes.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "daemon/xks/xks_handler.h"

namespace kmsd::xks {
namespace {

class NamedHandler final : public http::Handler {
 public:
  explicit NamedHandler(std::string name) : name_(std::move(name)) {}
  http::Response Handle(const http::Request&) override {
    http::Response response;
    response.body = name_;
    return response;
  }

 private:
  std::string name_;
};

std::string FrontFor(const std::string& target) {
  NamedHandler xks("xks"), api("api");
  FrontSplitter splitter(xks, api);
  http::Request request;
  request.method = "GET";
  request.target = target;
  return splitter.Handle(request).body;
}

TEST(FrontSplitterTest, EachPathGoesToItsFront) {
  const std::pair<const char*, const char*> cases[] = {
      {"/kms/xks/v1/health", "xks"},
      {"/dev/kms/xks/v1/keys/k1/encrypt", "xks"},
      {"/keystores/eu1/kms/xks/v1/health?x=1", "xks"},
      {"/unknown/kms/xks", "xks"},
      // The API's paths stay with it whatever they contain.
      {"/v1/datakeys", "api"},
      {"/v1/records/a/kms/xks/b", "api"},
      {"/v1/records/kms/xks/v1/health", "api"},
      {"/v1/kms/xks/v1/health", "api"},
      {"/healthz", "api"},
      {"/metrics?a=/kms/xks/", "api"},
      // Only the exact /v1 segment is the API's.
      {"/v10/kms/xks/v1/health", "xks"},
      {"/v1x/kms/xks/v1/health", "xks"}};
  for (const auto& [target, front] : cases) EXPECT_EQ(FrontFor(target), front) << target;
}

}  // namespace
}  // namespace kmsd::xks
