// TempDir: a fresh private directory (mode 0700) under $TMPDIR (or /tmp),
// removed with everything in it when the TempDir is destroyed. Move-only.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace kmsd::testing {

class TempDir {
 public:
  // Aborts the test binary if no directory can be created (a broken machine,
  // not a test outcome).
  explicit TempDir(std::string_view prefix = "kmsd-test");
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  ~TempDir();

  const std::filesystem::path& path() const noexcept { return path_; }
  // path() / name, as a string.
  std::string File(std::string_view name) const;

 private:
  std::filesystem::path path_;
};

}  // namespace kmsd::testing
