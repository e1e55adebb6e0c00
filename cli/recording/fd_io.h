// POSIX file helpers for the recording pipeline: an owning fd, full reads and
// writes that retry on EINTR, and an output written to a temporary file and
// renamed into place only on Commit().
//
// Every error is kInternal with a message naming the path and errno text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

#include "common/result.h"

namespace kmsd::recording {

// Owns one file descriptor; closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept;
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const noexcept { return fd_; }
  // Closes now and reports a failed close (which can hide a failed write).
  Status Close(const std::filesystem::path& path);

 private:
  int fd_ = -1;
};

// An error naming `what`, the path and the errno text.
Error IoError(const char* what, const std::filesystem::path& path, int err);

Result<UniqueFd> OpenForRead(const std::filesystem::path& path);

// The size of a regular file, or 0 when `fd` is not one (pipe, device).
std::uint64_t RegularFileSize(int fd) noexcept;

// Reads until `buf` is full or end of file; returns the bytes read.
Result<std::size_t> ReadFull(int fd, std::span<std::uint8_t> buf,
                             const std::filesystem::path& path);

Status WriteAll(int fd, std::span<const std::uint8_t> buf, const std::filesystem::path& path);

// Asks the kernel to start writing [offset, offset + len) of `fd` to disk now,
// without waiting (Linux sync_file_range). Best effort: errors surface at the
// final fsync. Keeps dirty pages of a large output bounded and overlaps the
// disk with the computation.
void StartWriteback(int fd, std::uint64_t offset, std::uint64_t len) noexcept;

// A temporary file ".<name>.XXXXXX" next to `target`, created with O_EXCL and
// mode 0600. Commit() fsyncs it, renames it over `target` and fsyncs the
// directory. Destroyed without a successful Commit(), it unlinks the
// temporary file, so nothing is left behind. Move-only.
class AtomicOutput {
 public:
  static Result<AtomicOutput> Create(const std::filesystem::path& target);
  AtomicOutput(AtomicOutput&& other) noexcept;
  AtomicOutput& operator=(AtomicOutput&&) = delete;
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  ~AtomicOutput();

  int fd() const noexcept { return fd_.get(); }
  const std::filesystem::path& temp_path() const noexcept { return temp_; }
  Status Commit();

 private:
  AtomicOutput(UniqueFd fd, std::filesystem::path temp, std::filesystem::path target)
      : fd_(std::move(fd)), temp_(std::move(temp)), target_(std::move(target)) {}
  UniqueFd fd_;
  std::filesystem::path temp_;
  std::filesystem::path target_;
  bool committed_ = false;
};

}  // namespace kmsd::recording
