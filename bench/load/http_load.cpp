#include "bench/load/http_load.h"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <random>

#include "bench/load/cpu_time.h"
#include "bench/load/latency.h"
#include "broker/jose/dev_tokens.h"
#include "broker/jose/signer.h"

namespace kmsd::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr auto kRequestTimeout = std::chrono::seconds(30);
constexpr double kDefaultRateGuess = 2000;  // decrypts/s assumed with no --rate-hint
constexpr int kMaxDecryptAttempts = 4;      // a round that ran dry is repeated this often
// Minting takes about 27 µs and 0.6 KB a token: a million is under half a
// minute and under 1 GB, and stays inside the tokens' 30 s margin plus the
// daemon's 60 s leeway, as their lifetime is counted from the minting's start.
constexpr std::size_t kMaxTokensPerRound = 1'000'000;

// One timed phase: shared by every connection coroutine on the single I/O
// thread, so no locks.
struct Phase {
  std::string operation;
  Clock::time_point measure_from;
  Clock::time_point deadline;
  std::string bearer;
  std::string tenant;
  std::vector<std::string>* contexts = nullptr;   // generate appends, decrypt reads
  std::vector<std::string> authorization_tokens;  // decrypt: one per request
  std::vector<std::size_t> token_context;         // index into *contexts
  std::size_t next_token = 0;
  std::uint64_t starved = 0;  // connections that stopped early: tokens ran out
  std::uint64_t sequence = 0;
  std::map<std::string, std::uint64_t> error_kinds;  // "503 hsm_unavailable" → count
};

std::string ErrorKind(unsigned status, const std::string& body) {
  boost::system::error_code ec;
  auto value = boost::json::parse(body, ec);
  std::string code = "?";
  if (!ec && value.is_object()) {
    // docs/api.md: {"error": {"code": "...", "message": "..."}}
    if (const auto* error = value.as_object().if_contains("error"); error && error->is_object()) {
      if (const auto* name = error->as_object().if_contains("code"); name && name->is_string()) {
        code = std::string(name->as_string());
      }
    }
  }
  return fmt::format("{} {}", status, code);
}

// Builds the next request of the phase, or nothing when decrypt tokens ran out.
std::optional<http::request<http::string_body>> NextRequest(Phase& phase, unsigned connection) {
  http::request<http::string_body> request;
  request.version(11);
  request.method(http::verb::post);
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::authorization, "Bearer " + phase.bearer);
  request.set(http::field::content_type, "application/json");
  boost::json::object body;
  if (phase.operation == "generate") {
    request.target("/v1/datakeys");
    body["asset_type"] = "recording";
    body["asset_id"] = fmt::format("bench/c{}/r{}", connection, phase.sequence++);
  } else {
    if (phase.next_token >= phase.authorization_tokens.size()) {
      ++phase.starved;
      return std::nullopt;
    }
    const std::size_t i = phase.next_token++;
    request.target("/v1/datakeys/decrypt");
    body["context_id"] = (*phase.contexts)[phase.token_context[i]];
    body["authorization_token"] = std::move(phase.authorization_tokens[i]);
  }
  request.body() = boost::json::serialize(body);
  request.prepare_payload();
  return request;
}

asio::awaitable<void> RunConnection(Phase& phase, asio::ip::tcp::endpoint endpoint,
                                    unsigned connection, LatencySamples& samples) {
  auto executor = co_await asio::this_coro::executor;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  while (Clock::now() < phase.deadline) {
    if (!stream) {
      stream.emplace(executor);
      stream->expires_after(kRequestTimeout);
      auto [connect_error] = co_await stream->async_connect(endpoint, kNoThrow);
      if (connect_error) {
        // One error per connection, not one per retry: a daemon that is gone
        // would otherwise add thousands of refused connects a second.
        ++phase.error_kinds["connect: " + connect_error.message()];
        ++samples.errors;
        co_return;
      }
      stream->socket().set_option(asio::ip::tcp::no_delay(true));
      buffer.clear();
    }
    auto request = NextRequest(phase, connection);
    if (!request) break;
    const auto began = Clock::now();
    stream->expires_after(kRequestTimeout);
    auto [write_error, written] = co_await http::async_write(*stream, *request, kNoThrow);
    http::response<http::string_body> response;
    boost::system::error_code read_error;
    if (!write_error) {
      auto [error, read] = co_await http::async_read(*stream, buffer, response, kNoThrow);
      read_error = error;
    }
    const auto ended = Clock::now();
    const unsigned expected = phase.operation == "generate" ? 201 : 200;
    const bool ok = !write_error && !read_error && response.result_int() == expected;
    if (ok && phase.operation == "generate") {
      boost::system::error_code ec;
      auto value = boost::json::parse(response.body(), ec);
      if (!ec && value.is_object()) {
        if (const auto* id = value.as_object().if_contains("context_id"); id && id->is_string()) {
          phase.contexts->emplace_back(id->as_string());
        }
      }
    }
    if (!ok) {
      ++phase.error_kinds[write_error || read_error
                              ? "io: " + (write_error ? write_error : read_error).message()
                              : ErrorKind(response.result_int(), response.body())];
    }
    // The body holds a plaintext data key: wipe it before the memory is reused.
    OPENSSL_cleanse(response.body().data(), response.body().size());
    if (began >= phase.measure_from && ended <= phase.deadline) {
      if (ok) {
        samples.durations.push_back(ended - began);
      } else {
        ++samples.errors;
      }
    }
    if (write_error || read_error || !response.keep_alive()) stream.reset();
  }
  if (stream) {
    boost::system::error_code ignored;
    stream->socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  }
}

PhaseSummary RunPhase(Phase& phase, const HttpLoadOptions& options, unsigned connections) {
  asio::io_context io;
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), options.port);
  phase.measure_from = Clock::now() + options.warmup;
  phase.deadline = phase.measure_from + options.duration;
  std::vector<LatencySamples> samples(connections);
  PhaseCpu client_cpu(::getpid(), phase.measure_from, phase.deadline);
  std::optional<PhaseCpu> daemon_cpu;
  if (options.daemon_pid > 0)
    daemon_cpu.emplace(options.daemon_pid, phase.measure_from, phase.deadline);
  for (unsigned c = 0; c < connections; ++c) {
    asio::co_spawn(io, RunConnection(phase, endpoint, c, samples[c]), asio::detached);
  }
  io.run();
  auto summary = Summarize(std::move(samples), phase.deadline - phase.measure_from);
  summary.client_cpu_us_per_op = CpuMicrosPerOperation(client_cpu.seconds(), summary.operations);
  if (daemon_cpu) {
    summary.cpu_us_per_op = CpuMicrosPerOperation(daemon_cpu->seconds(), summary.operations);
  }
  return summary;
}

Result<std::vector<std::string>> ReadContexts(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return MakeError(ErrorCode::kNotFound, "cannot read " + path.string());
  std::vector<std::string> contexts;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) contexts.push_back(line);
  }
  return contexts;
}

// Tokens for about twice what the previous decrypt round managed, so the
// phase never runs dry; minted now, before its clock starts.
// They expire soon after the phase so the daemon's replay cache (which holds
// each used jti until exp + leeway) does not fill up across rounds.
Status MintAuthorizationTokens(Phase& phase, const jose::JwsSigner& signer, std::size_t count,
                               std::chrono::seconds ttl) {
  phase.authorization_tokens.clear();
  phase.token_context.clear();
  phase.next_token = 0;
  const auto now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  // Every context in a shuffled order (fixed seed: runs stay comparable),
  // then again: requests do not walk the store in its row order.
  std::vector<std::size_t> order(phase.contexts->size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::shuffle(order.begin(), order.end(), std::mt19937_64(7919));
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t context = order[i % order.size()];
    jose::dev::AuthorizationTokenSpec spec;
    spec.tenant = phase.tenant;
    spec.context_id = (*phase.contexts)[context];
    spec.ttl = ttl;
    spec.now = now;
    auto token = jose::dev::MintAuthorizationToken(signer, spec);
    if (!token) return token.error();
    phase.authorization_tokens.push_back(std::move(*token));
    phase.token_context.push_back(context);
  }
  return {};
}

}  // namespace

int RunHttpLoad(const HttpLoadOptions& options) {
  auto fail = [](std::string_view step, const Error& error) {
    fmt::print(stderr, "kmsd-bench http: {}: {}\n", step, error.message);
    return 1;
  };
  auto identity = jose::JwsSigner::FromPrivateKeyFile(std::string(jose::dev::kIdentityKid),
                                                      options.dev_dir / jose::dev::kIdentityKeyFile,
                                                      jose::dev::kIdentityAlgorithm);
  if (!identity) return fail("identity signer", identity.error());
  auto storage = jose::JwsSigner::FromPrivateKeyFile(std::string(jose::dev::kSignerKid),
                                                     options.dev_dir / jose::dev::kSignerKeyFile,
                                                     jose::dev::kSignerAlgorithm);
  if (!storage) return fail("storage signer", storage.error());

  jose::dev::IdentityTokenSpec spec;
  spec.tenant = options.tenant;
  spec.subject = "bench";
  spec.roles = {"encrypt", "decrypt", "admin"};
  spec.ttl = std::chrono::hours(2);
  spec.now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  auto bearer = jose::dev::MintIdentityToken(*identity, spec);
  if (!bearer) return fail("bearer token", bearer.error());

  std::vector<std::string> contexts;
  if (!options.contexts_in.empty()) {
    auto read = ReadContexts(options.contexts_in);
    if (!read) return fail("contexts", read.error());
    contexts = std::move(*read);
  }
  // Written to a side file opened now (a path that cannot be written fails
  // before the rounds) and renamed over the target at the end: an interrupted
  // run leaves the old file, which may be the input too, as it was.
  std::ofstream contexts_file;
  auto contexts_partial = options.contexts_out;
  contexts_partial += ".partial";
  if (!options.contexts_out.empty()) {
    contexts_file.open(contexts_partial, std::ios::trunc);
    if (!contexts_file)
      return fail("contexts", MakeError(ErrorCode::kInvalidArgument,
                                        "cannot write " + contexts_partial.string()));
  }
  // Decrypt tokens are minted for twice the best rate seen so far (either
  // operation: a decrypt round may run twice as fast as the round before it).
  double best_rate_seen = options.rate_hint > 0 ? options.rate_hint : kDefaultRateGuess;
  bool failed = false;  // any failed request, warm-up included, or a decrypt round short of tokens
  for (unsigned connections : options.connections) {
    for (const auto& operation : options.operations) {
      const bool decrypt = operation == "decrypt";
      if (decrypt && contexts.empty())
        return fail("decrypt", MakeError(ErrorCode::kNotFound, "no context ids"));
      Phase phase;
      PhaseSummary summary;
      std::map<std::string, std::uint64_t> error_kinds;  // of every attempt, discarded ones too
      // A decrypt round that runs dry measured the token supply, not the
      // daemon: it is discarded and run again with four times the tokens.
      const auto seconds = static_cast<double>((options.warmup + options.duration).count());
      // best_rate_seen is at most --rate-hint's 10^6 or a measured rate.
      auto minted_count = std::min(static_cast<std::size_t>(best_rate_seen * seconds * 2) + 1000,
                                   kMaxTokensPerRound);
      int attempt = 0;
      for (;;) {
        ++attempt;
        phase = Phase{};
        phase.operation = operation;
        phase.bearer = *bearer;
        phase.tenant = options.tenant;
        phase.contexts = &contexts;
        if (decrypt) {
          const auto ttl = options.warmup + options.duration + std::chrono::seconds(30);
          if (auto minted = MintAuthorizationTokens(phase, *storage, minted_count, ttl); !minted) {
            return fail("authorization tokens", minted.error());
          }
        }
        summary = RunPhase(phase, options, connections);
        for (const auto& [kind, count] : phase.error_kinds) error_kinds[kind] += count;
        if (phase.starved == 0 || attempt == kMaxDecryptAttempts ||
            minted_count == kMaxTokensPerRound) {
          break;
        }
        const std::size_t used = minted_count;
        minted_count = std::min(minted_count * 4, kMaxTokensPerRound);
        fmt::print(stderr,
                   "note: decrypt conns={} used all {} authorization tokens before the round "
                   "ended; repeating it with {}\n",
                   connections, used, minted_count);
      }
      best_rate_seen = std::max(best_rate_seen, summary.per_second);
      fmt::print("{}\n",
                 FormatSummaryLine(fmt::format("{} conns={}", operation, connections), summary));
      std::fflush(stdout);
      if (phase.starved > 0) {
        fmt::print(stderr,
                   "warning: {} conns={} ran out of authorization tokens {} times in a row "
                   "(the last time {} connections stopped early)\n",
                   operation, connections, attempt, phase.starved);
      }
      for (const auto& [kind, count] : error_kinds) {
        fmt::print(stderr, "{} conns={}: {} x {}\n", operation, connections, count, kind);
      }
      failed = failed || phase.starved > 0 || !error_kinds.empty();
    }
  }
  if (!options.contexts_out.empty()) {
    for (const auto& context : contexts) contexts_file << context << '\n';
    contexts_file.close();
    std::error_code renamed;
    if (contexts_file) std::filesystem::rename(contexts_partial, options.contexts_out, renamed);
    if (!contexts_file || renamed)
      return fail("contexts", MakeError(ErrorCode::kInternal, "cannot write contexts file"));
  }
  return failed ? 1 : 0;
}

}  // namespace kmsd::bench
