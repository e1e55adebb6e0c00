// Small POSIX file helpers of the audit log (internal to kmsd_audit).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace kmsd::audit {

// The whole file, or nullopt when it cannot be opened or read (or does not
// fit in memory).
std::optional<std::string> ReadWholeFile(const std::filesystem::path& path);
// write() until done, retrying EINTR; false on any error (errno set).
bool WriteAll(int fd, std::string_view bytes);
// fsync of a directory, so that a created or removed name is durable.
bool FsyncDir(const std::filesystem::path& dir);

}  // namespace kmsd::audit
