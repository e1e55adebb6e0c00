// Encrypts and decrypts recording files in the format of format.h
// (docs/file-format.md), streaming, in constant memory, on several threads.
//
// Pipeline: a reader thread fills a ring of chunk buffers, `workers` threads
// seal or open chunks in place, and the calling thread writes them in order.
// At most `InFlightChunks(chunk_size, workers)` chunks are in memory at once,
// whatever the file size.
//
// Output is atomic: both calls write to a temporary file created in the
// output's directory (O_EXCL, mode 0600), fsync it, rename it over `out` and
// fsync the directory. On any failure the temporary file is unlinked and
// `out` is left as it was: decryption never leaves unauthenticated plaintext
// behind. An existing `out` is replaced only on success.
//
// Errors (kmsd::Result, never exceptions):
//   kInvalidArgument  bad options, a data key that is not 32 bytes, a header
//                     that is malformed or out of bounds (not our format)
//   kIntegrity        a chunk or the header failed authentication, chunks are
//                     reordered, duplicated, dropped or truncated, bytes are
//                     appended, or the key is wrong
//   kInternal         I/O failure; the message names the path and errno text
// Messages never contain key bytes or file contents.
//
// Buffers that held plaintext are wiped (OPENSSL_cleanse) before they are
// freed; the per-file key lives in a Secret. Thread-safe: independent calls
// may run concurrently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "cli/recording/format.h"
#include "common/result.h"
#include "common/secret.h"

namespace kmsd::recording {

// Called on the calling thread after each chunk is written, with the input
// bytes consumed so far and the input file's size (0 when not a regular file).
// Must not throw.
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct PipelineOptions {
  // Threads sealing or opening chunks; 0 picks a default for this machine.
  unsigned workers = 0;
  // No threads: read, transform and write in turn on the calling thread (two
  // chunk buffers). Same output and errors; recording_bench compares the two.
  bool sequential = false;
  ProgressFn progress;
};

struct EncryptOptions {
  std::string context_id;  // from the broker; 1..128 printable ASCII bytes
  std::uint32_t chunk_size = kDefaultChunkSize;
  PipelineOptions pipeline;
  // Tests and vectors only: a fixed salt instead of 32 random bytes. A fixed
  // salt with a reused data key repeats the per-file key and nonces.
  std::optional<Salt> salt_for_test;
};

// The number of chunk buffers a call keeps (each chunk_size + 16 bytes).
unsigned InFlightChunks(std::uint32_t chunk_size, unsigned workers) noexcept;

// The worker count used when PipelineOptions::workers is 0.
unsigned DefaultWorkers() noexcept;

// Encrypts `in` into `out` under `data_key` (32 bytes).
Status EncryptFile(const std::filesystem::path& in, const std::filesystem::path& out,
                   const Secret& data_key, const EncryptOptions& options);

// Decrypts `in` into `out`; see the error list above.
Status DecryptFile(const std::filesystem::path& in, const std::filesystem::path& out,
                   const Secret& data_key, const PipelineOptions& options = {});

// Reads and validates just the header of an encrypted file, e.g. to learn the
// context id and ask the broker for the data key before decrypting. The header
// is not authenticated until DecryptFile succeeds. kInvalidArgument for a
// malformed header, kInternal for I/O.
Result<FileHeader> ReadHeader(const std::filesystem::path& in);
Result<std::string> ReadContextId(const std::filesystem::path& in);

}  // namespace kmsd::recording
