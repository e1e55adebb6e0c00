// Internal: the ordered chunk pipeline behind EncryptFile / DecryptFile.
//
// A reader thread reads fixed-size records from `in_fd` into a ring of
// `slots` buffers, `ciphers.size()` worker threads transform them in place,
// and the calling thread writes the results to `out_fd` in chunk order.
// Memory is slots * (record_size + 16) bytes, whatever the input size.
//
// The reader looks one record ahead so that each chunk knows whether it is the
// last: a short record is last; a full record is last only if the next read
// returns nothing. Chunk 0 is always produced (empty for an empty input).
//
// Returns the first failure: a transform's status (e.g. kIntegrity), or a
// read or write error (kInternal). On failure, bytes already written to
// `out_fd` are the caller's to discard. All buffers are wiped before return.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <vector>

#include "cli/recording/file_crypto.h"
#include "cli/recording/format.h"

namespace kmsd::recording::internal {

// Transforms one chunk in place. `buf` has room for record_size + 16 bytes;
// the input is its first `in_len` bytes. Returns the output length.
using TransformFn =
    std::function<Result<std::size_t>(ChunkCipher& cipher, std::uint64_t index, bool last,
                                      std::span<std::uint8_t> buf, std::size_t in_len)>;

struct PipelineIo {
  int in_fd;
  const std::filesystem::path& in_path;
  int out_fd;
  const std::filesystem::path& out_path;
  std::uint64_t out_offset;      // bytes already in out_fd (the header when encrypting)
  std::uint64_t progress_base;   // input bytes consumed before the first record
  std::uint64_t progress_total;  // input size, 0 if unknown
};

Status RunPipeline(const PipelineIo& io, std::size_t record_size, unsigned slots,
                   std::vector<ChunkCipher>& ciphers, const TransformFn& transform,
                   const ProgressFn& progress);

// The same contract with no thread at all: read, transform and write in turn
// on the calling thread, with two buffers (the benchmark's baseline).
Status RunSequential(const PipelineIo& io, std::size_t record_size, ChunkCipher& cipher,
                     const TransformFn& transform, const ProgressFn& progress);

}  // namespace kmsd::recording::internal
