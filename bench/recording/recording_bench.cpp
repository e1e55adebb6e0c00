// recording_bench: encrypt and decrypt throughput of recording files, as a
// ratio to OpenSSL's own AES-256-GCM speed measured in the same run.
//
// Baseline: `openssl speed -evp aes-256-gcm -bytes 16384 -seconds 3` run as a
// subprocess (the figure issue 8 names); if that fails, an in-process EVP loop
// over 16 KiB blocks for 3 s stands in, and the output says which was used.
// Each configuration (worker count; 0 = sequential, no threads) is run
// `--runs` times on a `--size-mib` file of random bytes in `--dir` (default
// /dev/shm); the best run is reported, both as wall-clock MB/s and as MB per
// CPU-second summed over all threads. `openssl speed` divides by its user CPU
// time, so the CPU figure is the like-for-like one on a machine shared with
// other work. A last row copies the file with no cryptography at all: the
// page-cache I/O floor that any file encryption pays on top of AES-GCM.
//
// Usage: recording_bench [--size-mib N] [--dir D] [--runs R] [--workers 0,1,2,3]
//                        [--chunk-kib K]
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cli/recording/file_crypto.h"
#include "cli/recording/format.h"
#include "common/openssl_ptr.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace rec = kmsd::recording;

struct Args {
  std::uint64_t size_mib = 512;
  // tmpfs by default: on this machine's disk, fsync of the output bounds the
  // result at disk speed (~120 MB/s), which says nothing about the code.
  std::string dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
  int runs = 3;
  std::vector<unsigned> workers = {0, 1, 2, 3};  // 0: sequential, no threads
  std::uint32_t chunk_kib = 1024;
};

// Exits 2 with CLI11's message on a bad flag or value; 0 after --help.
Args ParseArgs(int argc, char** argv) {
  Args args;
  CLI::App app{"recording_bench: file encryption throughput against openssl speed"};
  app.add_option("--size-mib", args.size_mib, "size of the test file")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{64} * 1024))
      ->capture_default_str();
  app.add_option("--dir", args.dir,
                 "existing folder for the files (default tmpfs: on disk, fsync bounds the figure)")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  app.add_option("--runs", args.runs, "runs per configuration, best reported")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--chunk-kib", args.chunk_kib, "chunk size of the file format")
      ->check(CLI::Range(rec::kMinChunkSize / 1024, rec::kMaxChunkSize / 1024))
      ->capture_default_str();
  app.add_option("--workers", args.workers, "worker counts, one row each (0: sequential)")
      ->delimiter(',')
      ->check(CLI::Range(0u, 64u))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e) == 0 ? 0 : 2);  // --help, or a usage error
  }
  return args;
}

// MB/s (10^6 bytes) from `openssl speed`'s "AES-256-GCM <k-bytes-per-s>k" line.
double OpensslSpeedSubprocess() {
  FILE* p = ::popen("openssl speed -evp aes-256-gcm -bytes 16384 -seconds 3 2>/dev/null", "r");
  if (p == nullptr) return 0;
  char line[512];
  double kbytes = 0;
  while (std::fgets(line, sizeof line, p) != nullptr) {
    if (std::strncmp(line, "AES-256-GCM", 11) == 0) {
      kbytes = std::strtod(line + 11, nullptr);
    }
  }
  ::pclose(p);
  return kbytes / 1000.0;
}

// The same measurement in-process: one thread sealing 16 KiB blocks for 3 s.
double EvpSpeedInProcess() {
  kmsd::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::vector<std::uint8_t> key(32, 7), iv(12, 1), buf(16384), tag(16);
  EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr);
  std::uint64_t bytes = 0;
  const auto start = Clock::now();
  double secs = 0;
  while ((secs = std::chrono::duration<double>(Clock::now() - start).count()) < 3.0) {
    for (int i = 0; i < 64; ++i) {
      int len = 0;
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, nullptr, iv.data());
      EVP_EncryptUpdate(ctx.get(), buf.data(), &len, buf.data(), static_cast<int>(buf.size()));
      EVP_EncryptFinal_ex(ctx.get(), tag.data(), &len);
      bytes += buf.size();
    }
  }
  return static_cast<double>(bytes) / secs / 1e6;
}

bool WriteRandomFile(const std::filesystem::path& path, std::uint64_t mib) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  std::vector<unsigned char> buf(1 << 20);
  bool ok = true;
  for (std::uint64_t i = 0; i < mib && ok; ++i) {
    ok = RAND_bytes(buf.data(), static_cast<int>(buf.size())) == 1 &&
         std::fwrite(buf.data(), 1, buf.size(), f) == buf.size();
  }
  return std::fclose(f) == 0 && ok;
}

double CpuSeconds() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);  // all threads of this process, user + system
  const auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return secs(usage.ru_utime) + secs(usage.ru_stime);
}

struct Speed {
  double wall = 0;  // MB/s of elapsed time
  double cpu = 0;   // MB per CPU-second summed over all threads (load-independent)
};

// The I/O floor: the same read / write / fsync / rename through the page
// cache with no cryptography, single-threaded, 1 MiB at a time.
kmsd::Status PlainCopy(const std::filesystem::path& from, const std::filesystem::path& to) {
  const auto fail = [] { return kmsd::MakeError(kmsd::ErrorCode::kInternal, "copy failed"); };
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  const std::filesystem::path tmp = to.string() + ".tmp";
  const int out = ::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (in < 0 || out < 0) return fail();
  std::vector<std::uint8_t> buf(1 << 20);
  bool ok = true;
  for (ssize_t n; ok && (n = ::read(in, buf.data(), buf.size())) > 0;) {
    ok = ::write(out, buf.data(), static_cast<std::size_t>(n)) == n;
  }
  ok = ok && ::fsync(out) == 0;
  ::close(in);
  ok = ::close(out) == 0 && ok && ::rename(tmp.c_str(), to.c_str()) == 0;
  return ok ? kmsd::Status{} : kmsd::Status{fail()};
}

template <class Fn>
Speed Best(int runs, std::uint64_t bytes, Fn fn) {
  Speed best;
  for (int r = 0; r < runs; ++r) {
    const auto start = Clock::now();
    const double cpu_start = CpuSeconds();
    const kmsd::Status status = fn();
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu = CpuSeconds() - cpu_start;
    if (!status) {
      std::fprintf(stderr, "failed: %s\n", status.error().message.c_str());
      std::exit(1);
    }
    best.wall = std::max(best.wall, static_cast<double>(bytes) / secs / 1e6);
    best.cpu = std::max(best.cpu, static_cast<double>(bytes) / cpu / 1e6);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  const std::filesystem::path dir =
      std::filesystem::path(args.dir) / ("recording-bench-" + std::to_string(::getpid()));
  std::error_code created;
  std::filesystem::create_directories(dir, created);
  if (created) {
    std::fprintf(stderr, "cannot create %s: %s\n", dir.c_str(), created.message().c_str());
    return 1;
  }
  // Removed on every return, a failed write included: on tmpfs it holds RAM.
  struct RemoveDir {
    std::filesystem::path path;
    ~RemoveDir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } remove_dir{dir};
  const auto plain = dir / "plain", enc = dir / "enc", out = dir / "out";
  if (!WriteRandomFile(plain, args.size_mib)) {
    std::fprintf(stderr, "cannot write %s\n", plain.c_str());
    return 1;
  }
  kmsd::Secret key(32);
  RAND_bytes(key.mutable_bytes().data(), 32);
  const std::uint64_t bytes = args.size_mib << 20;

  double baseline = OpensslSpeedSubprocess();
  const char* baseline_source = "openssl speed -evp aes-256-gcm -bytes 16384 -seconds 3";
  if (baseline <= 0) {
    baseline = EvpSpeedInProcess();
    baseline_source = "in-process EVP AES-256-GCM, 16 KiB blocks, 3 s";
  }
  std::printf("file: %llu MiB in %s, chunk %u KiB, best of %d runs, %u hardware threads\n",
              static_cast<unsigned long long>(args.size_mib), dir.c_str(), args.chunk_kib,
              args.runs, std::thread::hardware_concurrency());
  std::printf("baseline: %.0f MB/s (%s)\n", baseline, baseline_source);
  std::printf("wall = MB/s of elapsed time; cpu = MB per CPU-second of all threads (user+sys)\n");
  std::printf("%-8s %10s %6s %10s %6s | %10s %6s %10s %6s\n", "workers", "enc wall", "ratio",
              "dec wall", "ratio", "enc cpu", "ratio", "dec cpu", "ratio");
  for (unsigned workers : args.workers) {
    rec::EncryptOptions options;
    options.context_id = "bench";
    options.chunk_size = args.chunk_kib * 1024;
    options.pipeline.workers = workers;
    options.pipeline.sequential = workers == 0;
    const Speed e =
        Best(args.runs, bytes, [&] { return rec::EncryptFile(plain, enc, key, options); });
    const Speed d =
        Best(args.runs, bytes, [&] { return rec::DecryptFile(enc, out, key, options.pipeline); });
    const std::string label = workers == 0 ? "seq" : std::to_string(workers);
    std::printf("%-8s %10.0f %6.2f %10.0f %6.2f | %10.0f %6.2f %10.0f %6.2f\n", label.c_str(),
                e.wall, e.wall / baseline, d.wall, d.wall / baseline, e.cpu, e.cpu / baseline,
                d.cpu, d.cpu / baseline);
  }
  const Speed copy = Best(args.runs, bytes, [&] { return PlainCopy(plain, out); });
  std::printf(
      "%-8s %10.0f %6.2f %10s %6s | %10.0f %6.2f   (I/O floor: read+write+fsync, no crypto)\n",
      "copy", copy.wall, copy.wall / baseline, "", "", copy.cpu, copy.cpu / baseline);
  std::printf("default workers on this machine: %u\n", rec::DefaultWorkers());
  return 0;
}
