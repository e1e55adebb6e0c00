// Which front gets a request on the shared API listener (docs/api.md): the
// XKS front takes paths containing "/kms/xks/", except the API's own /v1
// paths, where a context id may hold those bytes.
#include <gtest/gtest.h>

#include <string>

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

TEST(FrontSplitterTest, XksPathsGoToTheXksFront) {
  EXPECT_EQ(FrontFor("/kms/xks/v1/health"), "xks");
  EXPECT_EQ(FrontFor("/dev/kms/xks/v1/keys/k1/encrypt"), "xks");
  EXPECT_EQ(FrontFor("/keystores/eu1/kms/xks/v1/health?x=1"), "xks");
  EXPECT_EQ(FrontFor("/unknown/kms/xks"), "xks");
}

TEST(FrontSplitterTest, ApiPathsStayWithTheApiWhateverTheyContain) {
  EXPECT_EQ(FrontFor("/v1/datakeys"), "api");
  EXPECT_EQ(FrontFor("/v1/records/a/kms/xks/b"), "api");
  EXPECT_EQ(FrontFor("/v1/records/kms/xks/v1/health"), "api");
  EXPECT_EQ(FrontFor("/v1/kms/xks/v1/health"), "api");
  EXPECT_EQ(FrontFor("/healthz"), "api");
  EXPECT_EQ(FrontFor("/metrics?a=/kms/xks/"), "api");
}

TEST(FrontSplitterTest, OnlyTheExactV1SegmentIsTheApis) {
  EXPECT_EQ(FrontFor("/v10/kms/xks/v1/health"), "xks");
  EXPECT_EQ(FrontFor("/v1x/kms/xks/v1/health"), "xks");
}

}  // namespace
}  // namespace kmsd::xks
