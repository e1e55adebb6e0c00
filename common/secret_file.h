// Files that hold secrets (token PIN, TLS private key, SigV4 secrets) must
// not be open to every local user: kmsd refuses one whose mode grants
// anything to "others" (owner and group are the operator's to choose; the
// packaged layout is root:kmsd 0640 or a systemd credential, 0400).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace kmsd {

// kInvalidArgument "<what> <path>: readable or writable by others (mode
// 0644): chmod o-rwx" when the open file `fd` grants others any access.
Status CheckSecretFileMode(int fd, std::string_view what, std::string_view path);

// The same check by path (for --check-config); a file that cannot be
// stat'ed passes here, its reader reports that.
Status CheckSecretFileMode(const std::string& path, std::string_view what);

}  // namespace kmsd
