// DevDaemon: a real `kmsd --dev` child process for end-to-end tests.
//
// Spawns KMSD with --dev --data-dir DIR --listen 127.0.0.1:PORT (a free port
// picked by the kernel), stdout and stderr to `log`. The destructor stops it
// with SIGTERM (SIGKILL after 10 s). Kill() sends SIGKILL at once, as a crash.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace kmsd::testing {

class DevDaemon {
 public:
  DevDaemon(std::string kmsd_path, std::filesystem::path data_dir, std::filesystem::path log);
  ~DevDaemon();
  DevDaemon(const DevDaemon&) = delete;
  DevDaemon& operator=(const DevDaemon&) = delete;

  // Polls GET /healthz until 200, the child exits, or `limit` passes.
  bool WaitHealthy(std::chrono::seconds limit);
  // SIGKILL and reap: the crash every durability promise is about.
  void Kill();
  // Sends `signal` (e.g. SIGHUP) without waiting.
  void Signal(int signal);
  // SIGTERM and reap; returns the exit status (as waitpid reports it), -1 if gone.
  int Terminate();

  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// A port the kernel just handed out on 127.0.0.1 (then released).
std::uint16_t UnusedLoopbackPort();

// One GET on a fresh connection; the HTTP status, or 0 when nothing answered.
unsigned HttpGetStatus(std::uint16_t port, const std::string& target);

}  // namespace kmsd::testing
