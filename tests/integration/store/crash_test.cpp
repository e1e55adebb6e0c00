// Crash safety of SqliteRecordStore with real processes.
//
// A child process opens the store and inserts records from several threads;
// after each Insert returns OK it writes the context id to a pipe (one
// write() of less than PIPE_BUF bytes, so lines never interleave). The parent
// SIGKILLs the child at some moment, reopens the store and checks that every
// acknowledged id is present and intact, that the file passes
// integrity_check, and that no row is half-written. SIGKILL stops the process
// at an arbitrary instruction but keeps what reached the kernel; power loss is
// covered by synchronous=FULL (the commit's fsync), see docs/store.md.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <set>
#include <thread>

#include "broker/store/context_id.h"
#include "broker/store/sqlite_record_store.h"
#include "store_test_util.h"

namespace kmsd::store {
namespace {

using testing::MakeRecord;
using testing::RawDb;
using testing::TempDir;
using testing::WrappedKeyFor;

constexpr const char* kTenant = "tenant-crash";
constexpr int kWriterThreads = 6;

bool WriteAll(int fd, const std::string& line) {
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Runs in the child: inserts until killed (or a safety cap), acking each id.
[[noreturn]] void ChildInsertLoop(const std::filesystem::path& path, int ack_fd) {
  auto opened = SqliteRecordStore::Open({.path = path});
  if (!opened) ::_exit(10);
  auto& store = *opened;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriterThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000 && !failed; ++i) {
        const auto id = NewContextIdV7(SystemClock());
        if (!id) {
          failed = true;
          break;
        }
        if (!store->Insert(MakeRecord(kTenant, *id))) {
          failed = true;
          break;
        }
        if (!WriteAll(ack_fd, *id + "\n")) break;
      }
    });
  }
  for (auto& t : threads) t.join();
  ::_exit(failed ? 11 : 12);  // the parent expects to kill us before this
}

std::vector<std::string> ReadLines(int fd, std::string& buffer, std::size_t want) {
  std::vector<std::string> lines;
  char chunk[4096];
  while (lines.size() < want) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: every writer is gone
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::size_t pos;
    while ((pos = buffer.find('\n')) != std::string::npos) {
      lines.push_back(buffer.substr(0, pos));
      buffer.erase(0, pos + 1);
    }
  }
  return lines;
}

// Forks the inserting child, kills it after `acks_before_kill` acks plus
// `extra_delay`, and returns every id it acknowledged.
std::vector<std::string> RunAndKill(const std::filesystem::path& path, std::size_t acks_before_kill,
                                    std::chrono::microseconds extra_delay) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    ::close(fds[0]);
    ChildInsertLoop(path, fds[1]);
  }
  ::close(fds[1]);
  std::string buffer;
  std::vector<std::string> acked = ReadLines(fds[0], buffer, acks_before_kill);
  std::this_thread::sleep_for(extra_delay);
  ::kill(pid, SIGKILL);
  // Acks written before the kill are still in the pipe: drain to EOF.
  for (auto& line : ReadLines(fds[0], buffer, SIZE_MAX)) acked.push_back(std::move(line));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child must die mid-stream, not finish (exit " << WEXITSTATUS(status) << ")";
  return acked;
}

void PrepareStore(const std::filesystem::path& path) {
  auto opened = SqliteRecordStore::Open({.path = path});
  ASSERT_TRUE(opened);
  ASSERT_TRUE((*opened)->AddKekVersion(kTenant, 1, FromUnixMicros(1774746000000000)));
}  // the store (and its threads) are gone before any fork

// Every row must be a complete record of the child's stream.
void ExpectNoHalfWrittenRows(const std::filesystem::path& path) {
  RawDb raw(path);
  EXPECT_EQ(raw.QueryText("PRAGMA integrity_check"), "ok");
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw.get(),
                               "SELECT context_id, asset_id, wrapped_key, state, kek_version,"
                               " created_at FROM records",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  int rows = 0;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    ++rows;
    const std::string id = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    const std::string asset = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
    const auto* key = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, 2));
    const std::vector<std::uint8_t> blob(key, key + sqlite3_column_bytes(stmt, 2));
    EXPECT_EQ(asset, "asset/" + id);
    EXPECT_EQ(blob, WrappedKeyFor(id));
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3)), "active");
    EXPECT_EQ(sqlite3_column_int64(stmt, 4), 1);
    EXPECT_EQ(sqlite3_column_int64(stmt, 5), 1774746000123456);
  }
  sqlite3_finalize(stmt);
  EXPECT_GT(rows, 0);
}

TEST(StoreCrashTest, EveryAcknowledgedInsertSurvivesSigkill) {
  TempDir dir;
  const auto path = dir.path() / "records.db";
  PrepareStore(path);

  // Kill very early (during open/first batches), mid-stream, and late, with
  // varying extra delays so the kill lands at different points of a commit.
  const std::vector<std::pair<std::size_t, int>> moments{
      {1, 0}, {40, 300}, {400, 0}, {1500, 1700}, {3000, 50}};
  std::set<std::string> all_acked;
  for (const auto& [acks, delay_us] : moments) {
    const auto acked = RunAndKill(path, acks, std::chrono::microseconds(delay_us));
    EXPECT_GE(acked.size(), acks);
    all_acked.insert(acked.begin(), acked.end());

    auto reopened = SqliteRecordStore::Open({.path = path});
    ASSERT_TRUE(reopened) << reopened.error().message;
    for (const auto& id : all_acked) {
      const auto found = (*reopened)->Find(kTenant, id);
      ASSERT_TRUE(found) << "acknowledged id lost after kill at " << acks;
      EXPECT_EQ(*found, MakeRecord(kTenant, id));
    }
    EXPECT_GE((*reopened)->CountActiveByKekVersion(kTenant, 1).value(), all_acked.size());
    reopened->reset();
    ExpectNoHalfWrittenRows(path);
  }
  std::cout << "[store] crash test: " << all_acked.size()
            << " acknowledged inserts across 5 kills, all present\n";
}

// A write that hits the file size limit (EFBIG, as on a full disk) fails with
// kStoreUnavailable; everything acknowledged before stays, and nothing of the
// failed batch is in the file.
TEST(StoreCrashTest, FileSizeLimitIsStoreUnavailableAndLosesNothingAcknowledged) {
  TempDir dir;
  const auto path = dir.path() / "records.db";
  PrepareStore(path);

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of being killed
    auto opened = SqliteRecordStore::Open({.path = path});
    if (!opened) ::_exit(10);
    // The WAL may grow to 1 MiB (each commit appends ~6 pages: the table and
    // its indexes), then the "disk" is full.
    const rlimit limit{1024 * 1024, RLIM_INFINITY};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(13);
    for (int i = 0; i < 100000; ++i) {
      const std::string id = "fill-" + std::to_string(i);
      const Status s = (*opened)->Insert(MakeRecord(kTenant, id));
      if (!s) {
        WriteAll(fds[1], "FAILED " + id + "\n");
        ::_exit(s.error().code == ErrorCode::kStoreUnavailable ? 0 : 14);
      }
      if (!WriteAll(fds[1], id + "\n")) ::_exit(15);
    }
    ::_exit(16);  // never hit the limit
  }
  ::close(fds[1]);
  std::string buffer;
  auto lines = ReadLines(fds[0], buffer, SIZE_MAX);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "14: wrong error code, 16: limit never hit";
  ASSERT_FALSE(lines.empty());
  ASSERT_EQ(lines.back().rfind("FAILED ", 0), 0u);
  const std::string failed_id = lines.back().substr(7);
  lines.pop_back();
  ASSERT_GT(lines.size(), 10u);

  auto reopened = SqliteRecordStore::Open({.path = path});
  ASSERT_TRUE(reopened) << reopened.error().message;
  for (const auto& id : lines) ASSERT_TRUE((*reopened)->Find(kTenant, id)) << id;
  const auto missing = (*reopened)->Find(kTenant, failed_id);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE((*reopened)->Insert(MakeRecord(kTenant, failed_id)));  // space again: retry works
  reopened->reset();
  ExpectNoHalfWrittenRows(path);
  std::cout << "[store] file size limit hit after " << lines.size() << " acknowledged inserts\n";
}

}  // namespace
}  // namespace kmsd::store
